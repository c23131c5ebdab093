//! Management data contracts: users, agent whitelist, certificate domains and
//! check results (being written).
