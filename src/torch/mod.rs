//! PyTorch interoperability: import checkpoints of MLP encoders (the reference code's Lightning
//! checkpoints, bare state dicts) as run directories, and export runs for use from PyTorch.

pub mod checkpoint;
pub mod export;
pub mod import;
pub mod layout;
