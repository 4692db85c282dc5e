//! Train/validation split of cells: at random, or whole groups of an obs column (e.g. donor)
//! so no group appears on both sides.

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::data::Column;

/// Cell indices for training and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// Splits `n` cells, holding out about `fraction` of them (at least one cell on each side
/// when there are two or more), either at random or by whole groups of `by`.
pub fn split_cells(
    n: usize,
    fraction: f64,
    by: Option<&Column>,
    seed: u64,
) -> anyhow::Result<Split> {
    let mut rng = StdRng::seed_from_u64(seed);
    let target =
        ((n as f64 * fraction).round() as usize).clamp(usize::from(n >= 2), n.saturating_sub(1));
    let mut val_mask = vec![false; n];
    match by {
        None => {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            order[..target].iter().for_each(|&i| val_mask[i] = true);
        }
        Some(col) => {
            let (codes, names) = col.as_labels().ok_or_else(|| {
                anyhow::anyhow!(
                    "obs column {:?} cannot split cells (it holds numbers)",
                    col.name
                )
            })?;
            anyhow::ensure!(
                names.len() >= 2,
                "obs column {:?} has fewer than two groups",
                col.name
            );
            let mut groups: Vec<usize> = (0..names.len()).collect();
            groups.shuffle(&mut rng);
            let mut taken = 0;
            for g in groups {
                if taken >= target {
                    break;
                }
                for (i, c) in codes.iter().enumerate() {
                    if *c == Some(g) {
                        val_mask[i] = true;
                        taken += 1;
                    }
                }
            }
        }
    }
    let (val, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| val_mask[i]);
    anyhow::ensure!(!train.is_empty(), "the split leaves no cells for training");
    Ok(Split { train, val })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ColumnValues;

    #[test]
    fn random_split_has_the_fraction_and_group_split_keeps_groups_whole() {
        let s = split_cells(100, 0.2, None, 1).unwrap();
        assert_eq!((s.train.len(), s.val.len()), (80, 20));
        assert_eq!(s, split_cells(100, 0.2, None, 1).unwrap(), "seeded");
        let donor = Column {
            name: "donor".into(),
            values: ColumnValues::Str((0..100).map(|i| format!("d{}", i % 5)).collect()),
        };
        let s = split_cells(100, 0.2, Some(&donor), 1).unwrap();
        assert_eq!(s.val.len(), 20);
        let ColumnValues::Str(v) = &donor.values else {
            unreachable!()
        };
        for i in &s.train {
            assert!(
                s.val.iter().all(|j| v[*j] != v[*i]),
                "a donor on both sides"
            );
        }
    }
}
