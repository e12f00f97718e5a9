//! The service layer: typed library functions that the HTTP API and the CLI both call. Start-up
//! ([`startup`]), the live published state ([`Service`]), edits with their authorization
//! ([`edits`]), the near-border and nearest queries ([`queries`]), point files analysed in bulk
//! ([`analyze`]), imports ([`transfer`]) and streaming exports ([`export`]).

pub mod analyze;
pub mod audit;
pub mod bulk;
pub mod edits;
pub mod export;
mod live;
pub mod queries;
pub mod risk;
pub mod startup;
#[cfg(test)]
pub(crate) mod test_sites;
pub mod transfer;

pub use analyze::{AnalyzeError, Progress, analyze_file};
pub use live::{Live, Service, Update, follow_store};
pub use startup::{
    AnalysisConfig, Atlas, StartupError, analyzer_for, load, load_reading_from, load_with,
    open_store, open_store_reading_from,
};
