//! What every feature router shares: errors as the API envelope, extractors
//! whose rejections are enveloped too, and the principal of a request.
//!
//! A feature crate (access, and later the knowledge base, the LLM gateway, …)
//! builds its own `ApiRouter` with these; `ctrl-api` merges them in one place.

pub mod client;
pub mod error;
pub mod loopback;
pub mod principal;
pub mod routing;

pub use error::{ApiResult, Body, Failure, Path, Query, no_route, ok, wrong_method};
pub use loopback::Loopback;
pub use principal::{Acting, Address, Caller, Principal, Trusted, address, same_origin};
pub use routing::{ApiRouter, LeanRouter};
