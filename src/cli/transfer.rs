//! `cellscope transfer RUN --target FILE --label COL [--seeds N] [--label-map CSV] [--json]`:
//! zero-shot, fine-tuned and from-scratch arms on a labelled target; writes transfer.json.

use clap::Args;
use std::path::PathBuf;

use crate::analysis::transfer::{Stat, TransferReport, TransferRequest, fmt_stat, run_transfer};
use crate::config::Config;
use crate::train::load_run;

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Run directory of the pretrained model.
    pub run: PathBuf,
    /// Labelled target dataset.
    #[arg(long)]
    pub target: PathBuf,
    /// obs column of the target with the cell labels.
    #[arg(long)]
    pub label: String,
    /// Seeds per arm.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Two-column CSV mapping labels (from,to) before comparison.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: TransferArgs, config: &Config) -> anyhow::Result<()> {
    if let Some(0) = args.seeds {
        anyhow::bail!("--seeds must be at least 1");
    }
    let run = load_run(&args.run)?;
    let req = TransferRequest {
        target: args.target,
        label: args.label,
        label_map: args.label_map,
        seeds: args.seeds,
    };
    let json = args.json;
    let report = run_transfer(&run, &req, config, &mut |step| {
        if json {
            tracing::info!("{step}");
        } else {
            eprintln!("{step}");
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
        println!(
            "written {}",
            args.run
                .join(crate::analysis::transfer::TRANSFER_FILE)
                .display()
        );
    }
    Ok(())
}

/// "mean +- sd", or "n/a" when the figure is missing or undefined (never "NaN").
fn cell(s: Option<Stat>) -> String {
    fmt_stat(s, "+-")
}

/// The arms x metrics table with the fine-tuned minus scratch delta.
pub fn table(r: &TransferReport) -> String {
    let g = &r.genes;
    let mut out = format!(
        "target {} ({} classes, {} reference / {} query cells, split {}, {} seeds)\n\
         genes: {} of {} model genes matched ({:.0}%), {} zero-filled, {} target genes dropped\n",
        r.target,
        r.classes.len(),
        r.n_reference,
        r.n_query,
        r.split,
        r.n_seeds,
        g.matched,
        g.model_genes,
        100.0 * g.share(),
        g.missing,
        g.extra
    );
    if let Some(w) = g.warning() {
        out += &format!("{w}\n");
    }
    if r.unmapped > 0 {
        out += &format!(
            "{} cells dropped (label not in the label map)\n",
            r.unmapped
        );
    }
    out += &format!(
        "{:<14}{:>18}{:>18}{:>18}\n",
        "arm", "macro-F1", "accuracy", "kNN macro-F1"
    );
    for a in &r.arms {
        let mark = if a.arm == r.best_arm { "*" } else { " " };
        out += &format!(
            "{:<14}{:>18}{:>18}{:>18}\n",
            format!("{mark}{}", a.arm),
            cell(Some(a.macro_f1)),
            cell(Some(a.accuracy)),
            cell(a.knn_macro_f1)
        );
    }
    if let Some(d) = r.delta_finetuned_vs_scratch.filter(|d| d.is_finite()) {
        out += &format!("fine-tuned - scratch macro-F1: {d:+.3}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_figures_print_as_n_a() {
        assert_eq!(cell(None), "n/a");
        assert_eq!(cell(Some(Stat::of(&[]))), "n/a");
        assert_eq!(cell(Some(Stat::of(&[0.5, 0.7]))), "0.600 +- 0.141");
    }
}
