//! Pool controller (placeholder: being written).
