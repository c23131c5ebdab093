//! The built-in channels, one cargo feature each.

#[cfg(feature = "dingtalk")]
pub mod dingtalk;
#[cfg(feature = "email")]
pub mod email;
#[cfg(feature = "sms")]
pub mod sms;
#[cfg(feature = "webhook")]
pub mod webhook;
#[cfg(feature = "weixin")]
pub mod weixin;
