//! sg (placeholder).
