//! Stratified k-fold cross-validation over the labelled cells: each class's cells are shuffled
//! (seeded) and dealt round-robin to the folds, continuing the deal from one class to the next,
//! so every class is spread over the folds evenly (counts differ by at most one) and so are the
//! fold sizes. Classes with too few cells to be in every fold are left out and listed.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::AnalysisError;

/// A class left out of the folds and how many labelled cells it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmallClass {
    pub class: usize,
    pub cells: usize,
}

/// The folds of a stratified k-fold split; every kept cell is in exactly one test fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Folds {
    /// Test fold of each cell (None: unlabelled or in a left-out class).
    fold_of: Vec<Option<usize>>,
    /// Each fold's test cells, ascending.
    tests: Vec<Vec<usize>>,
    /// Classes left out for having fewer cells than the threshold, ascending by class.
    pub excluded: Vec<SmallClass>,
    /// Classes kept, ascending.
    pub classes: Vec<usize>,
}

impl Folds {
    /// Deals the labelled cells of every class with at least `min_class_cells` cells (and never
    /// fewer than `n_folds`, so each kept class is in every test fold) into `n_folds` folds.
    pub fn stratified(
        labels: &[Option<usize>],
        n_folds: usize,
        min_class_cells: usize,
        seed: u64,
    ) -> Result<Self, AnalysisError> {
        if n_folds < 2 {
            return Err(AnalysisError::Invalid(format!(
                "analysis.cv_folds = {n_folds}: cross-validation needs at least 2 folds"
            )));
        }
        let n_classes = labels.iter().flatten().max().map_or(0, |m| m + 1);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
        for (cell, label) in labels.iter().enumerate() {
            if let Some(c) = label {
                members[*c].push(cell);
            }
        }
        let threshold = min_class_cells.max(n_folds);
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut fold_of, mut tests) = (vec![None; labels.len()], vec![Vec::new(); n_folds]);
        let (mut excluded, mut classes, mut next) = (Vec::new(), Vec::new(), 0usize);
        for (class, cells) in members.iter_mut().enumerate() {
            match cells.len() {
                0 => {}
                n if n < threshold => excluded.push(SmallClass { class, cells: n }),
                n => {
                    classes.push(class);
                    cells.shuffle(&mut rng);
                    for (i, &cell) in cells.iter().enumerate() {
                        let fold = (next + i) % n_folds;
                        fold_of[cell] = Some(fold);
                        tests[fold].push(cell);
                    }
                    next = (next + n) % n_folds;
                }
            }
        }
        tests.iter_mut().for_each(|t| t.sort_unstable());
        Ok(Self {
            fold_of,
            tests,
            excluded,
            classes,
        })
    }

    /// Number of folds.
    pub fn n_folds(&self) -> usize {
        self.tests.len()
    }

    /// Cells in the folds (labelled, of a kept class).
    pub fn n_cells(&self) -> usize {
        self.tests.iter().map(Vec::len).sum()
    }

    /// Fold `f`'s test cells, ascending.
    pub fn test(&self, f: usize) -> &[usize] {
        &self.tests[f]
    }

    /// The cells trained on when fold `f` is held out: every other fold's cells, ascending.
    pub fn train(&self, f: usize) -> Vec<usize> {
        (0..self.fold_of.len())
            .filter(|&i| self.fold_of[i].is_some_and(|g| g != f))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class sizes 23, 10, 9, 40 and 1 (classes 0..5), 7 unlabelled cells, shuffled together.
    fn labels() -> Vec<Option<usize>> {
        let mut l: Vec<Option<usize>> = [(0, 23), (1, 10), (2, 9), (3, 40), (4, 1)]
            .iter()
            .flat_map(|&(c, n)| std::iter::repeat_n(Some(c), n))
            .chain(std::iter::repeat_n(None, 7))
            .collect();
        l.shuffle(&mut StdRng::seed_from_u64(9));
        l
    }

    #[test]
    fn every_kept_cell_is_in_exactly_one_test_fold_and_classes_spread_evenly() {
        let labels = labels();
        let folds = Folds::stratified(&labels, 5, 10, 3).unwrap();
        assert_eq!(folds.n_folds(), 5);
        assert_eq!(folds.classes, [0, 1, 3]);
        let mut seen = vec![0usize; labels.len()];
        for f in 0..5 {
            for &i in folds.test(f) {
                seen[i] += 1;
            }
            // Train and test are disjoint and together hold every kept cell.
            let train = folds.train(f);
            assert!(train.iter().all(|i| !folds.test(f).contains(i)));
            assert_eq!(train.len() + folds.test(f).len(), folds.n_cells());
        }
        for (i, l) in labels.iter().enumerate() {
            let kept = l.is_some_and(|c| folds.classes.contains(&c));
            assert_eq!(seen[i], usize::from(kept), "cell {i} ({l:?})");
        }
        assert_eq!(folds.n_cells(), 23 + 10 + 40);
        for &class in &folds.classes {
            let per_fold: Vec<usize> = (0..5)
                .map(|f| {
                    let t = folds.test(f);
                    t.iter().filter(|&&i| labels[i] == Some(class)).count()
                })
                .collect();
            let (lo, hi) = (per_fold.iter().min(), per_fold.iter().max());
            assert!(
                hi.unwrap() - lo.unwrap() <= 1,
                "class {class}: {per_fold:?}"
            );
        }
        let sizes: Vec<usize> = (0..5).map(|f| folds.test(f).len()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn small_classes_are_left_out_and_listed() {
        let folds = Folds::stratified(&labels(), 5, 10, 3).unwrap();
        assert_eq!(
            folds.excluded,
            [
                SmallClass { class: 2, cells: 9 },
                SmallClass { class: 4, cells: 1 }
            ]
        );
        // The threshold never drops below the number of folds.
        let many = Folds::stratified(&labels(), 12, 2, 3).unwrap();
        assert_eq!(many.classes, [0, 3]);
        assert_eq!(many.excluded.len(), 3);
    }

    #[test]
    fn folds_are_seeded() {
        let a = Folds::stratified(&labels(), 5, 10, 1).unwrap();
        assert_eq!(a, Folds::stratified(&labels(), 5, 10, 1).unwrap());
        assert_ne!(a, Folds::stratified(&labels(), 5, 10, 2).unwrap());
    }

    #[test]
    fn one_fold_is_refused_with_the_setting_named() {
        let e = Folds::stratified(&labels(), 1, 10, 0).unwrap_err();
        assert!(e.to_string().contains("analysis.cv_folds"), "{e}");
    }
}
