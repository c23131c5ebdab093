//! Binary operators: between scalars, a vector and a scalar, and two
//! vectors with `on`/`ignoring` and `group_left`/`group_right`, and the
//! set operators, as Prometheus 2.x defines them.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::value::{Element, NAME, PromLabels, drop_name, grouping};

type Result<T> = std::result::Result<T, String>;

pub(crate) fn vector_op(
    b: &BinaryExpr,
    op: &str,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    return_bool: bool,
    t: i64,
) -> Result<Vec<Element>> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
    let card = b
        .modifier
        .as_ref()
        .map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
    // Without on/ignoring, every label but the name.
    let signature = |labels: &PromLabels| -> PromLabels {
        grouping(labels, matching.as_ref()).unwrap_or_else(|| drop_name(labels.clone()))
    };
    match op {
        "and" | "unless" => {
            let right: HashSet<PromLabels> = rhs.iter().map(|e| signature(&e.labels)).collect();
            return Ok(lhs
                .into_iter()
                .filter(|e| right.contains(&signature(&e.labels)) == (op == "and"))
                .collect());
        }
        "or" => {
            let left: HashSet<PromLabels> = lhs.iter().map(|e| signature(&e.labels)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|e| !left.contains(&signature(&e.labels))),
            );
            return Ok(out);
        }
        _ => {}
    }
    // The "one" side, by signature; group_right swaps the sides.
    let (many, one, swapped, include) = match &card {
        VectorMatchCardinality::OneToMany(l) => (rhs, lhs, true, l.labels.clone()),
        VectorMatchCardinality::ManyToOne(l) => (lhs, rhs, false, l.labels.clone()),
        _ => (lhs, rhs, false, Vec::new()),
    };
    let mut one_side: HashMap<PromLabels, Element> = HashMap::new();
    for e in one {
        let sig = signature(&e.labels);
        if one_side.insert(sig, e).is_some() {
            return Err(
                "many-to-many matching not allowed: matching labels must be unique on one side"
                    .into(),
            );
        }
    }
    let grouped = !matches!(card, VectorMatchCardinality::OneToOne);
    let mut seen: HashSet<PromLabels> = HashSet::new();
    let mut out = Vec::new();
    for e in many {
        let sig = signature(&e.labels);
        let Some(other) = one_side.get(&sig) else {
            continue;
        };
        if !grouped && !seen.insert(sig) {
            return Err("found duplicate series for the match group on the left side; many-to-one matching needs group_left".into());
        }
        let (l, r) = if swapped {
            (other.value, e.value)
        } else {
            (e.value, other.value)
        };
        let (mut value, keep) = elem(op, l, r)?;
        let comparison = is_comparison(op);
        if comparison && !return_bool && !keep {
            continue;
        }
        if comparison && return_bool {
            value = f64::from(u8::from(keep));
        } else if comparison && swapped {
            // The "many" side's own value.
            value = e.value;
        }
        let mut labels = e.labels.clone();
        if !comparison || return_bool {
            labels.remove(NAME);
        }
        if !grouped {
            match &matching {
                Some(LabelModifier::Include(on)) => labels.retain(|k, _| on.labels.contains(k)),
                Some(LabelModifier::Exclude(ign)) => {
                    labels.retain(|k, _| !ign.labels.contains(k));
                }
                None => {}
            }
        }
        for name in &include {
            match other.labels.get(name) {
                Some(v) if !v.is_empty() => {
                    labels.insert(name.clone(), v.clone());
                }
                _ => {
                    labels.remove(name);
                }
            }
        }
        out.push(Element {
            labels,
            value,
            ts: t,
        });
    }
    Ok(out)
}

pub(crate) fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// `l op r`: the value, and for comparisons whether it holds.
pub(crate) fn elem(op: &str, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(format!("operator {other} is not supported here")),
    })
}

/// A vector with a scalar (`scalar_left`: the scalar is on the left).
pub(crate) fn scalar_op(
    op: &str,
    v: Vec<Element>,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
    t: i64,
) -> Result<Vec<Element>> {
    let comparison = is_comparison(op);
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let (l, r) = if scalar_left {
            (s, e.value)
        } else {
            (e.value, s)
        };
        let (mut value, keep) = elem(op, l, r)?;
        if comparison {
            if return_bool {
                value = f64::from(u8::from(keep));
            } else if !keep {
                continue;
            } else {
                // The vector's own value, whichever side it is on.
                value = e.value;
            }
        }
        let labels = if !comparison || return_bool {
            drop_name(e.labels)
        } else {
            e.labels
        };
        out.push(Element {
            labels,
            value,
            ts: t,
        });
    }
    Ok(out)
}
