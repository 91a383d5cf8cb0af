//! Compatibility profiles: other products' wire contracts served over gatehouse's own rules.

pub mod botserver;
pub mod ragflow;
