//! Logistic regression (linfa-logistic, L2) on standardised columns. A missing number is
//! imputed with its training mean (standardised 0, so it contributes nothing by itself) and
//! a "was missing" indicator column carries whatever missingness says about the risk.
//! Contribution of a feature = coefficient × standardised value (+ its indicator's), so the
//! intercept plus the contributions is exactly the log-odds.

use crate::model::spec::Design;
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Logistic {
    means: Vec<f64>,
    scales: Vec<f64>,
    /// Encoded columns that had missing values in training, each with its own indicator.
    indicators: Vec<Indicator>,
    /// One per encoded column, then one per indicator; for "blocked" on the log-odds scale.
    coefficients: Vec<f64>,
    intercept: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Indicator {
    column: usize,
    mean: f64,
    scale: f64,
}

fn scale_of(variance: f64) -> f64 {
    // A constant column has nothing to standardise; 1 keeps it at 0 without dividing by 0.
    if variance > 1e-12 {
        variance.sqrt()
    } else {
        1.0
    }
}

impl Logistic {
    pub(crate) fn fit(
        design: &Design,
        blocked: &[bool],
        alpha: f64,
        max_iterations: u64,
    ) -> Result<Self, String> {
        let (rows, cols) = (design.rows, design.cols);
        let mut means = vec![0.0; cols];
        let mut scales = vec![1.0; cols];
        let mut indicators = Vec::new();
        for c in 0..cols {
            let values: Vec<f64> = design
                .column(c)
                .iter()
                .copied()
                .filter(|v| !v.is_nan())
                .collect();
            if values.len() < rows {
                let share = 1.0 - values.len() as f64 / rows as f64;
                let scale = scale_of(share * (1.0 - share));
                indicators.push(Indicator {
                    column: c,
                    mean: share,
                    scale,
                });
            }
            if !values.is_empty() {
                let n = values.len() as f64;
                let mean = values.iter().sum::<f64>() / n;
                let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                means[c] = mean;
                scales[c] = scale_of(variance);
            }
        }
        let mut model = Logistic {
            means,
            scales,
            indicators,
            coefficients: Vec::new(),
            intercept: 0.0,
        };
        let width = cols + model.indicators.len();
        let mut x = Vec::with_capacity(rows * width);
        for r in 0..rows {
            x.extend(model.standardise(&design.row(r)));
        }
        let x = Array2::from_shape_vec((rows, width), x).map_err(|e| e.to_string())?;
        let y = Array1::from_iter(blocked.iter().copied());
        let fitted = LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(max_iterations)
            .fit(&Dataset::new(x, y))
            .map_err(|e| format!("logistic regression could not be fitted: {e}"))?;
        // linfa models the more frequent class; turn it round when that is "approved".
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        model.coefficients = fitted.params().iter().map(|w| sign * w).collect();
        model.intercept = sign * fitted.intercept();
        Ok(model)
    }

    fn standardise<'a>(&'a self, row: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        let columns = row.iter().enumerate().map(|(c, &v)| {
            if v.is_nan() {
                0.0
            } else {
                (v - self.means[c]) / self.scales[c]
            }
        });
        let indicators = self.indicators.iter().map(|i| {
            let missing = if row[i.column].is_nan() { 1.0 } else { 0.0 };
            (missing - i.mean) / i.scale
        });
        columns.chain(indicators)
    }

    pub(crate) fn raw_score(&self, row: &[f64]) -> f64 {
        let (base, contributions) = self.contributions(row);
        base + contributions.iter().sum::<f64>()
    }

    pub(crate) fn contributions(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let cols = row.len();
        let mut out = vec![0.0; cols];
        for (k, (z, w)) in self.standardise(row).zip(&self.coefficients).enumerate() {
            let column = if k < cols {
                k
            } else {
                self.indicators[k - cols].column
            };
            out[column] += z * w;
        }
        (self.intercept, out)
    }
}
