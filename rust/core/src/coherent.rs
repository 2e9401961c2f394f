//! coherent (placeholder).
