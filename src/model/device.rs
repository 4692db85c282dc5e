//! `model.device`: "cpu", or "cuda" when built with the `cuda` feature and a device is present;
//! anything unavailable falls back to the CPU with a message for the user.

use candle_core::Device;

/// The device for `name` and, when the request could not be met, why the CPU is used instead.
pub fn select_device(name: &str) -> anyhow::Result<(Device, Option<String>)> {
    match name {
        "cpu" => Ok((Device::Cpu, None)),
        "cuda" => Ok(cuda()),
        other => anyhow::bail!("model.device must be \"cpu\" or \"cuda\", got {other:?}"),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> (Device, Option<String>) {
    match Device::new_cuda(0) {
        Ok(d) => (d, None),
        Err(e) => (
            Device::Cpu,
            Some(format!("no usable CUDA device ({e}); running on the CPU")),
        ),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> (Device, Option<String>) {
    (
        Device::Cpu,
        Some(
            "this build has no CUDA support (build with --features cuda); running on the CPU"
                .into(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_used_as_asked_or_as_fallback() {
        assert!(select_device("cpu").unwrap().1.is_none());
        let (device, note) = select_device("cuda").unwrap();
        assert!(device.is_cpu() == note.is_some());
        assert!(select_device("tpu").is_err());
    }
}
