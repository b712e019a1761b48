//! The properties the fuzz targets check; see `props.rs`.
#[path = "props.rs"]
pub mod props;
