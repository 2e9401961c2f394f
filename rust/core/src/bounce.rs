//! bounce (placeholder).
