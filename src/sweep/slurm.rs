//! `cellscope sweep --slurm`: an sbatch job-array script with one array task per run; each task
//! runs `cellscope sweep --task I` on the sweep directory, then `cellscope sweep --collect DIR`
//! prints the table.

use std::path::Path;

/// The script for a sweep of `n_tasks` runs in `sweep_dir`, started with `exe`.
pub fn script(exe: &Path, sweep_dir: &Path, n_tasks: usize) -> String {
    let quote = |p: &Path| shell_quote(&p.display().to_string());
    let dir = quote(sweep_dir);
    format!(
        r#"#!/usr/bin/env bash
# cellscope sweep as a SLURM job array: one array task per run ({n_tasks} runs).
# Submit:  sbatch {script}
# Table:   cellscope sweep --collect {dir}   (once the array has finished; re-submitting
#          runs only what is missing)
#SBATCH --job-name=cellscope-sweep
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=12:00:00
#SBATCH --output={log_dir}/slurm-%A_%a.log
# SIGTERM 2 minutes before the time limit; a task cut short starts again when re-submitted.
#SBATCH --signal=TERM@120
# On a GPU partition, also:  #SBATCH --gres=gpu:1  with a `--features cuda` build.
set -euo pipefail
exec {exe} sweep --out {dir} --task "$SLURM_ARRAY_TASK_ID" --threads "${{SLURM_CPUS_PER_TASK:-1}}"
"#,
        script = shell_quote(&sweep_dir.join(super::SLURM_FILE).display().to_string()),
        last = n_tasks.saturating_sub(1),
        log_dir = sweep_dir.display(),
        exe = quote(exe),
    )
}

/// A word safe for the shell: single-quoted unless it needs no quoting.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_array_task_per_run_and_paths_quoted() {
        let s = script(Path::new("/opt/cellscope"), Path::new("/data/my sweep"), 8);
        assert!(s.contains("#SBATCH --array=0-7\n"), "{s}");
        assert!(s.contains("exec /opt/cellscope sweep --out '/data/my sweep' --task"));
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
