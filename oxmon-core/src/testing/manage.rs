//! Conformance suite for the management stores (being written).
