//! Certificates: details read by the checker (`/v1/certificates...`,
//! [`certificates`]), the monitored domains (`/v1/certs/domains...`,
//! [`domains`]), their latest results and checks on demand
//! (`/v1/certs/status...`, `.../check`, [`status`]); the views they answer
//! with are in [`views`].

use std::sync::Arc;

use oxmon_core::manage::{self, CertStore};
use serde::Deserialize;

use super::params::page;
use crate::error::ApiError;
use crate::sources::CertChecks;
use crate::state::{AppState, unavailable};

pub(super) mod certificates;
pub(super) mod domains;
pub(super) mod status;
mod views;

pub use domains::{
    AddDomainRequest, AddDomainsRequest, BatchErrorBody, BatchItemError, UpdateDomainRequest,
};
pub use views::{
    CertDomainView, CertStatusView, CertificateChainView, CertificateView, ChainCertificateView,
    Page,
};

/// Default page size of the certificate and domain lists.
pub const DEFAULT_CERT_PAGE_LIMIT: u64 = 100;
/// Largest page size of the certificate and domain lists.
pub const MAX_CERT_PAGE_LIMIT: u64 = 1000;
/// Most domains in one batch.
pub const MAX_DOMAIN_BATCH: usize = 1000;

impl AppState {
    fn certs(&self) -> Result<&Arc<dyn CertStore>, ApiError> {
        self.certs
            .as_ref()
            .ok_or_else(|| unavailable("certificate monitoring"))
    }

    fn cert_checks(&self) -> Result<&Arc<dyn CertChecks>, ApiError> {
        self.cert_checks
            .as_ref()
            .ok_or_else(|| unavailable("the certificate checker"))
    }
}

/// The paging parameters of a certificate or domain list, raw: each list's
/// query type flattens this beside its own filters.
#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<String>,
    offset: Option<String>,
}

impl PageParams {
    /// `limit` (1 to [`MAX_CERT_PAGE_LIMIT`], default
    /// [`DEFAULT_CERT_PAGE_LIMIT`]) and `offset` (default 0).
    ///
    /// # Errors
    /// 400 naming the parameter with a bad value.
    fn parse(&self) -> Result<Paging, ApiError> {
        let (limit, offset) = page(
            self.limit.as_deref(),
            self.offset.as_deref(),
            DEFAULT_CERT_PAGE_LIMIT,
            MAX_CERT_PAGE_LIMIT,
        )?;
        Ok(Paging { limit, offset })
    }
}

/// A list's checked `limit` and `offset`: what the store is asked for and
/// what the answered [`Page`] says.
#[derive(Debug, Clone, Copy)]
struct Paging {
    limit: u64,
    offset: u64,
}

impl Paging {
    fn limit(self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    fn offset(self) -> usize {
        usize::try_from(self.offset).unwrap_or(usize::MAX)
    }

    /// The store's page as the API answers it, each item through `view`.
    fn answer<T, V>(self, page: manage::Page<T>, view: impl FnMut(T) -> V) -> Page<V> {
        Page {
            total: page.total,
            limit: self.limit,
            offset: self.offset,
            items: page.items.into_iter().map(view).collect(),
        }
    }
}
