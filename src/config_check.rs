//! The allowed range of every setting in `config.toml`, checked when a config is read and again
//! after command-line flags are layered on: a bad value is one line naming the key, the value and
//! what is allowed (`train.batch_size = 0: must be >= 1`).

use crate::config::Config;

/// The allowed values of a number (always finite).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Range {
    /// `>= a`
    AtLeast(f64),
    /// `> a`
    Above(f64),
    /// `(a, b)`
    Open(f64, f64),
    /// `[a, b)`
    Below(f64, f64),
    /// `[a, b]`
    Closed(f64, f64),
    /// `(a, b]`
    UpTo(f64, f64),
}

impl Range {
    fn contains(self, v: f64) -> bool {
        v.is_finite()
            && match self {
                Range::AtLeast(a) => v >= a,
                Range::Above(a) => v > a,
                Range::Open(a, b) => a < v && v < b,
                Range::Below(a, b) => a <= v && v < b,
                Range::Closed(a, b) => a <= v && v <= b,
                Range::UpTo(a, b) => a < v && v <= b,
            }
    }

    fn describe(self) -> String {
        match self {
            Range::AtLeast(a) => format!(">= {a}"),
            Range::Above(a) => format!("> {a}"),
            Range::Open(a, b) => format!("in ({a}, {b})"),
            Range::Below(a, b) => format!("in [{a}, {b})"),
            Range::Closed(a, b) => format!("in [{a}, {b}]"),
            Range::UpTo(a, b) => format!("in ({a}, {b}]"),
        }
    }
}

use Range::{Above, AtLeast, Below, Closed, Open, UpTo};

/// Every numeric setting with its value and allowed range (integers are exact as f64 far beyond
/// any sensible setting). Keys where every value means something are not listed: seeds,
/// `patience` (0 disables), `threads` (0 = all cores), `n_top_genes` (0 keeps every gene),
/// `warmup_epochs`, `memory_budget_mb` (0 always streams).
fn numbers(c: &Config) -> Vec<(&'static str, f64, Range)> {
    let n = |v: usize| v as f64;
    let mut checks = Vec::new();
    if let crate::config::Epochs::Fixed(e) = c.train.epochs {
        checks.push(("train.epochs", n(e), AtLeast(1.0)));
    }
    checks.extend(vec![
        ("data.block_rows", n(c.data.block_rows), AtLeast(1.0)),
        ("preprocess.target_sum", c.preprocess.target_sum, Above(0.0)),
        (
            "model.latent",
            n(c.model.latent),
            Closed(1.0, MAX_WIDTH as f64),
        ),
        ("model.dropout", c.model.dropout, Below(0.0, 1.0)),
        ("train.batch_size", n(c.train.batch_size), AtLeast(1.0)),
        (
            "train.snapshot_cells",
            n(c.train.snapshot_cells),
            AtLeast(2.0),
        ),
        ("train.lr", c.train.lr, Above(0.0)),
        ("train.weight_decay", c.train.weight_decay, AtLeast(0.0)),
        ("train.grad_clip", c.train.grad_clip, AtLeast(0.0)),
        ("train.step_epochs", n(c.train.step_epochs), AtLeast(1.0)),
        ("train.step_gamma", c.train.step_gamma, UpTo(0.0, 1.0)),
        ("train.val_fraction", c.train.val_fraction, Open(0.0, 1.0)),
        ("masking.rate", c.masking.rate, Open(0.0, 1.0)),
        (
            "masking.programme_fraction",
            c.masking.programme_fraction,
            Below(0.0, 1.0),
        ),
        (
            "contrastive.byol_tau",
            c.contrastive.byol_tau,
            Open(0.0, 1.0),
        ),
        (
            "contrastive.barlow_lambda",
            c.contrastive.barlow_lambda,
            AtLeast(0.0),
        ),
        (
            "contrastive.dropout_prob",
            c.contrastive.dropout_prob,
            Closed(0.0, 1.0),
        ),
        (
            "contrastive.dropout_rate",
            c.contrastive.dropout_rate,
            Below(0.0, 1.0),
        ),
        (
            "contrastive.nb_noise_prob",
            c.contrastive.nb_noise_prob,
            Closed(0.0, 1.0),
        ),
        (
            "contrastive.nb_noise_intensity",
            c.contrastive.nb_noise_intensity,
            AtLeast(0.0),
        ),
        (
            "contrastive.gauss_noise_prob",
            c.contrastive.gauss_noise_prob,
            Closed(0.0, 1.0),
        ),
        (
            "contrastive.gauss_noise_std",
            c.contrastive.gauss_noise_std,
            AtLeast(0.0),
        ),
        ("analysis.knn_k", n(c.analysis.knn_k), AtLeast(1.0)),
        ("analysis.kmeans_k", n(c.analysis.kmeans_k), AtLeast(1.0)),
        ("analysis.graph_k", n(c.analysis.graph_k), AtLeast(1.0)),
        ("analysis.cv_folds", n(c.analysis.cv_folds), AtLeast(2.0)),
        (
            "analysis.min_class_cells",
            n(c.analysis.min_class_cells),
            AtLeast(1.0),
        ),
        (
            "analysis.pca_components",
            n(c.analysis.pca_components),
            AtLeast(1.0),
        ),
        (
            "analysis.leiden_resolution",
            c.analysis.leiden_resolution,
            Above(0.0),
        ),
        (
            "analysis.layout_max_cells",
            n(c.analysis.layout_max_cells),
            AtLeast(2.0),
        ),
        ("transfer.seeds", n(c.transfer.seeds), AtLeast(1.0)),
        ("transfer.epochs", n(c.transfer.epochs), AtLeast(1.0)),
        ("transfer.lr", c.transfer.lr, Above(0.0)),
        (
            "transfer.weight_decay",
            c.transfer.weight_decay,
            AtLeast(0.0),
        ),
        (
            "transfer.query_fraction",
            c.transfer.query_fraction,
            Open(0.0, 1.0),
        ),
        (
            "transfer.batch_size",
            n(c.transfer.batch_size),
            AtLeast(1.0),
        ),
        ("ui.fps", f64::from(c.ui.fps), Closed(1.0, 1000.0)),
    ]);
    checks
}

/// The widest layer allowed: far above any useful width, low enough that a typo such as
/// `hidden = [5120000]` is an error instead of an allocation that ends the process.
const MAX_WIDTH: usize = 65_536;

/// Layer widths: at least one, each in `1..=MAX_WIDTH`.
fn widths(c: &Config) -> [(&'static str, &[usize]); 3] {
    [
        ("model.hidden", &c.model.hidden),
        ("contrastive.byol_projector", &c.contrastive.byol_projector),
        (
            "contrastive.barlow_projector",
            &c.contrastive.barlow_projector,
        ),
    ]
}

/// Named choices, each checked by the parser that later reads it (its error lists the names).
fn choices(c: &Config) -> Vec<(&'static str, &str, Result<(), String>)> {
    let names = |value: &str, allowed: &[&str]| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(format!("must be one of {}", allowed.join(", ")))
        }
    };
    vec![
        (
            "data.matrix",
            &c.data.matrix,
            crate::data::h5ad::MatrixChoice::parse(&c.data.matrix).map(drop),
        ),
        (
            "model.activation",
            &c.model.activation,
            crate::model::Activation::parse(&c.model.activation)
                .map(drop)
                .map_err(|e| e.to_string()),
        ),
        (
            "model.device",
            &c.model.device,
            names(&c.model.device, &["cpu", "cuda"]),
        ),
        (
            "model.path",
            &c.model.path,
            names(&c.model.path, &["auto", "fast", "device"]),
        ),
        (
            "train.method",
            &c.train.method,
            crate::train::Method::parse(&c.train.method)
                .map(drop)
                .map_err(|e| e.to_string()),
        ),
        (
            "train.schedule",
            &c.train.schedule,
            crate::train::schedule::LrSchedule::new(
                &c.train,
                &crate::train::budget::Budget::plan(&c.train, 2, 1),
            )
            .map(drop)
            .map_err(|e| e.to_string()),
        ),
        (
            "train.out_dir",
            &c.train.out_dir,
            non_empty(&c.train.out_dir),
        ),
        (
            "ui.marker",
            &c.ui.marker,
            names(&c.ui.marker, &["braille", "dot", "block"]),
        ),
    ]
}

fn non_empty(value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err("must name a directory".into())
    } else {
        Ok(())
    }
}

/// The first setting outside its allowed range, as `key = value: must be ...`.
pub fn check(config: &Config) -> anyhow::Result<()> {
    for (key, value, range) in numbers(config) {
        anyhow::ensure!(
            range.contains(value),
            "{key} = {value}: must be {}",
            range.describe()
        );
    }
    for (key, list) in widths(config) {
        anyhow::ensure!(
            !list.is_empty() && list.iter().all(|w| (1..=MAX_WIDTH).contains(w)),
            "{key} = {list:?}: must be one or more widths, each in [1, {MAX_WIDTH}]"
        );
    }
    for (key, value, parsed) in choices(config) {
        if let Err(why) = parsed {
            anyhow::bail!("{key} = {value:?}: {why}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of config.toml where every value of their type is allowed.
    const UNLIMITED: [&str; 18] = [
        "data.label",
        "data.memory_budget_mb",
        "preprocess.log1p",
        "preprocess.n_top_genes",
        "train.warmup_epochs",
        "train.precision",
        "train.split_by",
        "train.patience",
        "train.seed",
        "analysis.cv_seed",
        "train.threads",
        "train.snapshot_every",
        "masking.gene_sets",
        "transfer.patience",
        "transfer.split_by",
        "transfer.linear_probe",
        "transfer.head_epochs",
        "ui.mouse",
    ];

    #[test]
    fn every_key_of_config_toml_is_checked_or_declared_unlimited() {
        let mut c = Config::default();
        // "auto" epochs have no range to check; a number has.
        c.train.epochs = crate::config::Epochs::Fixed(20);
        let checked: Vec<&str> = numbers(&c)
            .iter()
            .map(|n| n.0)
            .chain(widths(&c).iter().map(|w| w.0))
            .chain(choices(&c).iter().map(|ch| ch.0))
            .collect();
        let file: toml::Table = toml::from_str(include_str!("../config.toml")).unwrap();
        for (section, keys) in &file {
            for key in keys.as_table().unwrap().keys() {
                let name = format!("{section}.{key}");
                let listed = checked.contains(&name.as_str()) || UNLIMITED.contains(&name.as_str());
                assert!(
                    listed,
                    "{name}: add its range to config_check (or to UNLIMITED)"
                );
            }
        }
    }

    #[test]
    fn the_defaults_pass() {
        check(&Config::default()).unwrap();
    }

    #[test]
    fn ranges_include_and_exclude_their_ends_as_described() {
        assert!(Open(0.0, 1.0).contains(0.5) && !Open(0.0, 1.0).contains(0.0));
        assert!(!Open(0.0, 1.0).contains(1.0));
        assert!(Below(0.0, 1.0).contains(0.0) && !Below(0.0, 1.0).contains(1.0));
        assert!(UpTo(0.0, 1.0).contains(1.0) && !UpTo(0.0, 1.0).contains(0.0));
        assert!(Closed(0.0, 1.0).contains(1.0) && Closed(0.0, 1.0).contains(0.0));
        assert!(!Above(0.0).contains(0.0) && AtLeast(0.0).contains(0.0));
        for r in [AtLeast(0.0), Above(0.0), Closed(-1.0, 1.0)] {
            assert!(!r.contains(f64::NAN) && !r.contains(f64::INFINITY), "{r:?}");
        }
        assert_eq!(Below(0.0, 1.0).describe(), "in [0, 1)");
        assert_eq!(AtLeast(1.0).describe(), ">= 1");
    }

    #[test]
    fn a_bad_value_is_one_line_with_key_value_and_range() {
        let err = |edit: fn(&mut Config)| {
            let mut c = Config::default();
            edit(&mut c);
            check(&c).unwrap_err().to_string()
        };
        assert_eq!(
            err(|c| c.train.batch_size = 0),
            "train.batch_size = 0: must be >= 1"
        );
        assert_eq!(
            err(|c| c.masking.rate = 1.0),
            "masking.rate = 1: must be in (0, 1)"
        );
        assert_eq!(
            err(|c| c.model.hidden.clear()),
            "model.hidden = []: must be one or more widths, each in [1, 65536]"
        );
        assert_eq!(
            err(|c| c.ui.marker = "star".into()),
            "ui.marker = \"star\": must be one of braille, dot, block"
        );
        assert!(err(|c| c.train.lr = f64::NAN).starts_with("train.lr = NaN: must be > 0"));
    }
}
