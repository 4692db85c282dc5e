//! After warm-up, a contrastive training step allocates no buffers of its own: every large
//! array (views, activations, BatchNorm statistics, gradients) is kept between steps. The gemm
//! crate allocates its packing buffers inside each call; those are told apart by backtrace.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cellscope::config::Config;
use cellscope::data::synthetic::log_normalised_cells;
use cellscope::train::Method;
use cellscope::train::method::Learner;

/// Allocations of at least this many bytes count as buffers (smaller ones are lock guards and
/// layer lists).
const BUFFER_BYTES: usize = 4096;

/// Whether allocations are being watched.
static WATCH: AtomicBool = AtomicBool::new(false);

/// The first frames inside cellscope of each buffer allocated outside gemm while watching.
static OURS: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while an allocation is being classified (its own allocations are not watched).
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

fn watch(size: usize) {
    if size < BUFFER_BYTES || !WATCH.load(Ordering::Relaxed) || BUSY.with(|b| b.replace(true)) {
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    // gemm's own: the frames below the first of cellscope are the gemm crate's.
    let inner = trace.split("cellscope::").next().unwrap_or("");
    if !inner.contains("gemm") {
        let frames: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("cellscope::"))
            .take(3)
            .collect();
        if let Ok(mut ours) = OURS.lock() {
            ours.push(format!("{size} bytes at {}", frames.join(" <- ")));
        }
    }
    BUSY.with(|b| b.set(false));
}

struct Watching;

// SAFETY: forwards to the system allocator; `watch` only reads the size.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        watch(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        watch(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

#[test]
fn contrastive_steps_allocate_no_buffers_after_warm_up() {
    let (x, _) = log_normalised_cells(200, 300, 4, 1);
    let mut config = Config::default();
    config.model.hidden = vec![64, 32];
    config.model.latent = 16;
    config.contrastive.byol_projector = vec![128, 32];
    config.contrastive.barlow_projector = vec![64, 64, 128];
    // Every augmentation on, so each branch of the view preparation runs.
    config.contrastive.gauss_noise_prob = 0.5;
    let rows: Vec<usize> = (0..128).collect();
    for method in [Method::Byol, Method::Barlow] {
        let mut learner = Learner::new(&config, method, x.n_cols, None).unwrap();
        for step in 0..2 {
            learner.train_step(&x, &rows, step, 1e-3, 1.0).unwrap();
        }
        WATCH.store(true, Ordering::Relaxed);
        for step in 2..5 {
            let loss = learner.train_step(&x, &rows, step, 1e-3, 1.0).unwrap();
            assert!(loss.is_finite());
        }
        WATCH.store(false, Ordering::Relaxed);
        let ours = std::mem::take(&mut *OURS.lock().unwrap());
        assert!(
            ours.is_empty(),
            "{method:?} allocated in 3 steps: {ours:#?}"
        );
    }
}
