//! tracker (placeholder).
