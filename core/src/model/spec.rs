//! Which features a model uses and how each becomes numbers. Built from the training part only,
//! stored with the model, and applied unchanged at decision time.

use crate::features::{Direction, FeatureValue, RawFeatures, direction};
use crate::monitoring::FeatureSample;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A level seen fewer times than this in training is folded into "other": too rare to learn.
const MIN_LEVEL_COUNT: usize = 5;
/// More levels than this (e.g. an id used as an attribute) are folded into "other" too.
const MAX_LEVELS: usize = 30;
/// The name of the column that takes rare and unseen levels.
pub const OTHER: &str = "other";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub features: Vec<FeatureColumn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    pub name: String,
    pub encoding: Encoding,
    /// Known direction of the risk, enforced while fitting where the learner can.
    pub direction: Option<Direction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    /// One column; missing (or a text value) stays missing.
    Number,
    /// One 0/1 column per level and a last one for "other" (rare in training, or unseen);
    /// missing sets none of them.
    Category { levels: Vec<String> },
}

/// Rows of encoded features, stored column after column (as forust fits them, so the largest
/// training part is never copied to be fitted); NaN is missing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Design {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    data: Vec<f64>,
}

impl Design {
    /// `rows` rows of zeros.
    pub(crate) fn zeros(rows: usize, cols: usize) -> Design {
        Design {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The design of `rows` rows given one after another.
    pub(crate) fn from_rows(rows: usize, cols: usize, row_major: &[f64]) -> Design {
        let mut design = Design::zeros(rows, cols);
        for (r, row) in row_major.chunks_exact(cols.max(1)).enumerate() {
            design.set_row(r, row);
        }
        design
    }

    pub(crate) fn set_row(&mut self, r: usize, values: &[f64]) {
        for (c, &value) in values.iter().enumerate() {
            self.data[c * self.rows + r] = value;
        }
    }

    pub(crate) fn column(&self, c: usize) -> &[f64] {
        &self.data[c * self.rows..(c + 1) * self.rows]
    }

    pub(crate) fn row(&self, r: usize) -> Vec<f64> {
        (0..self.cols)
            .map(|c| self.data[c * self.rows + r])
            .collect()
    }

    pub(crate) fn select(&self, rows: &[usize]) -> Design {
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for c in 0..self.cols {
            let column = self.column(c);
            data.extend(rows.iter().map(|&r| column[r]));
        }
        Design {
            rows: rows.len(),
            cols: self.cols,
            data,
        }
    }

    /// The values column after column, as forust wants them.
    pub(crate) fn column_major(&self) -> &[f64] {
        &self.data
    }

    /// The values row after row.
    pub(crate) fn row_major(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.data.len());
        for r in 0..self.rows {
            out.extend((0..self.cols).map(|c| self.data[c * self.rows + r]));
        }
        out
    }
}

#[derive(Default)]
struct Seen {
    numbers: usize,
    levels: BTreeMap<String, usize>,
}

/// Counts what rows hold, one row at a time, so rows need not all be kept.
#[derive(Default)]
pub(crate) struct SpecBuilder {
    seen: BTreeMap<String, Seen>,
}

/// Updates the entry of `key`, allocating the key only the first time it is seen.
fn update<V: Default>(map: &mut BTreeMap<String, V>, key: &str, change: impl FnOnce(&mut V)) {
    match map.get_mut(key) {
        Some(value) => change(value),
        None => {
            let mut value = V::default();
            change(&mut value);
            map.insert(key.to_owned(), value);
        }
    }
}

impl SpecBuilder {
    pub(crate) fn observe(&mut self, row: &RawFeatures) {
        for (name, value) in &row.0 {
            match value {
                FeatureValue::Number(_) => update(&mut self.seen, name, |s| s.numbers += 1),
                FeatureValue::Category(level) => update(&mut self.seen, name, |s| {
                    update(&mut s.levels, level, |n| *n += 1);
                }),
                FeatureValue::Missing => {}
            }
        }
    }

    /// Adds what another builder counted, as if this one had seen its rows too.
    pub(crate) fn absorb(&mut self, other: SpecBuilder) {
        for (name, seen) in other.seen {
            let mine = self.seen.entry(name).or_default();
            mine.numbers += seen.numbers;
            for (level, n) in seen.levels {
                *mine.levels.entry(level).or_default() += n;
            }
        }
    }

    /// Every feature that was ever present; numeric when numbers are at least as common as
    /// text. Features that are always missing teach nothing and are left out.
    pub(crate) fn finish(self) -> FeatureSpec {
        let features = self
            .seen
            .into_iter()
            .filter(|(_, s)| s.numbers > 0 || !s.levels.is_empty())
            .map(|(name, s)| {
                let texts: usize = s.levels.values().sum();
                let encoding = if s.numbers >= texts {
                    Encoding::Number
                } else {
                    let mut levels: Vec<(String, usize)> = s
                        .levels
                        .into_iter()
                        .filter(|(level, n)| *n >= MIN_LEVEL_COUNT && level != OTHER)
                        .collect();
                    levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    levels.truncate(MAX_LEVELS);
                    let mut levels: Vec<String> = levels.into_iter().map(|(l, _)| l).collect();
                    levels.sort();
                    Encoding::Category { levels }
                };
                let direction = match encoding {
                    Encoding::Number => direction(&name),
                    Encoding::Category { .. } => None,
                };
                FeatureColumn {
                    name,
                    encoding,
                    direction,
                }
            })
            .collect();
        FeatureSpec { features }
    }
}

impl FeatureSpec {
    /// The spec of `rows` (see [`SpecBuilder::finish`] for the rules).
    pub fn fit<'a>(rows: impl IntoIterator<Item = &'a RawFeatures>) -> FeatureSpec {
        let mut builder = SpecBuilder::default();
        for row in rows {
            builder.observe(row);
        }
        builder.finish()
    }

    /// How many numbers a row becomes.
    pub fn width(&self) -> usize {
        self.features.iter().map(FeatureColumn::width).sum()
    }

    /// A name for each encoded column: the feature, or `feature=level` for categories.
    pub fn column_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for f in &self.features {
            match &f.encoding {
                Encoding::Number => names.push(f.name.clone()),
                Encoding::Category { levels } => {
                    for level in levels.iter().map(String::as_str).chain([OTHER]) {
                        names.push(format!("{}={level}", f.name));
                    }
                }
            }
        }
        names
    }

    /// For each encoded column, the index of the feature it came from.
    pub(crate) fn owners(&self) -> Vec<usize> {
        self.features
            .iter()
            .enumerate()
            .flat_map(|(i, f)| std::iter::repeat_n(i, f.width()))
            .collect()
    }

    /// For each encoded column, the direction to constrain it to (numbers only).
    pub(crate) fn column_directions(&self) -> Vec<Option<Direction>> {
        self.features
            .iter()
            .flat_map(|f| std::iter::repeat_n(f.direction, f.width()))
            .collect()
    }

    pub(crate) fn encode_into(&self, row: &RawFeatures, out: &mut Vec<f64>) {
        // A fitted spec lists its features in name order, as the row's map keeps them: walk
        // both together instead of searching the map for each feature (a fifth of an
        // explanation's time). A feature the walk has passed is looked up, so any order works.
        let mut entries = row.0.iter().peekable();
        for f in &self.features {
            let value = loop {
                match entries.peek() {
                    Some((name, _)) if name.as_str() < f.name.as_str() => {
                        entries.next();
                    }
                    Some((name, value)) if name.as_str() == f.name.as_str() => break *value,
                    _ => break row.get(&f.name),
                }
            };
            match &f.encoding {
                Encoding::Number => out.push(value.as_number().unwrap_or(f64::NAN)),
                Encoding::Category { levels } => {
                    let start = out.len();
                    out.extend(std::iter::repeat_n(0.0, levels.len() + 1));
                    if let FeatureValue::Category(level) = value {
                        let at = levels.binary_search(level).unwrap_or(levels.len());
                        out[start + at] = 1.0;
                    }
                }
            }
        }
    }

    /// The features as one number each, in order: a decision's drift values
    /// ([`crate::monitoring::DriftReference`]). A number as it is; a category as its level's
    /// index, `levels.len()` for "other"; NaN when missing (as the encoding treats it).
    pub fn drift_values(&self, row: &RawFeatures) -> Vec<f64> {
        self.features
            .iter()
            .map(|f| {
                let value = row.get(&f.name);
                match &f.encoding {
                    Encoding::Number => value.as_number().unwrap_or(f64::NAN),
                    Encoding::Category { levels } => match value {
                        FeatureValue::Category(level) => {
                            levels.binary_search(level).unwrap_or(levels.len()) as f64
                        }
                        _ => f64::NAN,
                    },
                }
            })
            .collect()
    }

    /// The drift values of up to `cap` rows of encoded designs (evenly spread over them all),
    /// feature by feature: the reference sample of a training.
    pub(crate) fn drift_samples(&self, designs: &[&Design], cap: usize) -> Vec<FeatureSample> {
        let total: usize = designs.iter().map(|d| d.rows).sum();
        let step = total.div_ceil(cap.max(1)).max(1);
        let mut samples: Vec<FeatureSample> = self
            .features
            .iter()
            .map(|f| FeatureSample {
                name: f.name.clone(),
                levels: match &f.encoding {
                    Encoding::Number => None,
                    Encoding::Category { levels } => Some(levels.len()),
                },
                values: Vec::with_capacity(total / step + 1),
            })
            .collect();
        let mut start = 0;
        for (f, sample) in self.features.iter().zip(&mut samples) {
            let width = f.width();
            let mut next = 0;
            for design in designs {
                let columns: Vec<&[f64]> =
                    (start..start + width).map(|c| design.column(c)).collect();
                let mut r = next;
                while r < design.rows {
                    sample.values.push(match &f.encoding {
                        Encoding::Number => columns[0][r],
                        Encoding::Category { .. } => columns
                            .iter()
                            .position(|column| column[r] == 1.0)
                            .map_or(f64::NAN, |level| level as f64),
                    });
                    r += step;
                }
                next = r - design.rows;
            }
            start += width;
        }
        samples
    }

    pub(crate) fn encode(&self, row: &RawFeatures) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.width());
        self.encode_into(row, &mut out);
        out
    }

    pub(crate) fn design<'a>(&self, rows: impl IntoIterator<Item = &'a RawFeatures>) -> Design {
        let mut data = Vec::new();
        let mut count = 0;
        for row in rows {
            self.encode_into(row, &mut data);
            count += 1;
        }
        Design::from_rows(count, self.width(), &data)
    }
}

impl FeatureColumn {
    pub(crate) fn width(&self) -> usize {
        match &self.encoding {
            Encoding::Number => 1,
            Encoding::Category { levels } => levels.len() + 1,
        }
    }
}
