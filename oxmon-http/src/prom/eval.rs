//! PromQL evaluation with Prometheus 2.x semantics over series loaded
//! beforehand (`load.rs`): selectors with a 5-minute lookback, offsets,
//! range vectors, functions (`functions.rs`), aggregations with `by` and
//! `without`, and binary operators between scalars and vectors with
//! `on`/`ignoring` and `group_left`/`group_right`. What is not supported
//! is refused naming the construct.

use std::collections::{BTreeMap, HashMap};

use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Call, Expr, MatrixSelector, Offset, VectorSelector,
};

use super::value::{Element, PromLabels, Series, Value, drop_name, grouping};
use super::{functions, ops};

/// How far back an instant selector looks for a sample.
pub(crate) const LOOKBACK_MS: i64 = 300_000;

/// A selector as the loader and the evaluator know it: its text (the key
/// of its data) and how far before an evaluation time it reads.
pub(crate) fn selector_key(vs: &VectorSelector) -> String {
    vs.to_string()
}

/// A selector's offset, ms (positive: into the past).
pub(crate) fn offset_ms(vs: &VectorSelector) -> i64 {
    match &vs.offset {
        None => 0,
        Some(Offset::Pos(d)) => millis(*d),
        Some(Offset::Neg(d)) => -millis(*d),
    }
}

/// A duration of the query in ms, saturating (`x[4294967295y]` parses).
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Every selector of `expr` with the span before an evaluation time it
/// needs (range or lookback, plus its offset); refuses what is not
/// supported.
pub(crate) fn selectors(expr: &Expr, out: &mut Vec<(VectorSelector, i64)>) -> Result<()> {
    match expr {
        Expr::VectorSelector(vs) => {
            check_at(vs)?;
            out.push((vs.clone(), LOOKBACK_MS));
        }
        Expr::MatrixSelector(MatrixSelector { vs, range }) => {
            check_at(vs)?;
            out.push((vs.clone(), millis(*range)));
        }
        Expr::Aggregate(a) => {
            selectors(&a.expr, out)?;
            if let Some(p) = &a.param {
                selectors(p, out)?;
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out)?,
        Expr::Binary(b) => {
            selectors(&b.lhs, out)?;
            selectors(&b.rhs, out)?;
        }
        Expr::Paren(p) => selectors(&p.expr, out)?,
        Expr::Call(c) => {
            for a in &c.args.args {
                selectors(a, out)?;
            }
        }
        Expr::Subquery(_) => return Err("subqueries are not supported".into()),
        Expr::Extension(_) => return Err("extension expressions are not supported".into()),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
    Ok(())
}

fn check_at(vs: &VectorSelector) -> Result<()> {
    match vs.at {
        None => Ok(()),
        Some(AtModifier::Start | AtModifier::End | AtModifier::At(_)) => {
            Err("the @ modifier is not supported".into())
        }
    }
}

/// Evaluates expressions over the loaded series of their selectors.
pub(crate) struct Evaluator<'a> {
    /// By selector key: the matching series, points oldest first.
    data: &'a HashMap<String, Vec<Series>>,
    /// Samples and series read so far, against [`MAX_WORK`].
    work: std::cell::Cell<u64>,
}

/// Most samples (and instant series) one query may read over all its
/// steps, as Prometheus's `query.max-samples`: a query of many steps over
/// long ranges is refused rather than keeping a core busy for minutes.
pub(crate) const MAX_WORK: u64 = 50_000_000;

type Result<T> = std::result::Result<T, String>;

impl<'a> Evaluator<'a> {
    pub(crate) fn new(data: &'a HashMap<String, Vec<Series>>) -> Self {
        Self {
            data,
            work: std::cell::Cell::new(0),
        }
    }

    /// Counts `n` more samples read; refuses past [`MAX_WORK`].
    fn spend(&self, n: usize) -> Result<()> {
        let total = self.work.get().saturating_add(n as u64);
        self.work.set(total);
        if total > MAX_WORK {
            return Err(format!(
                "query processing would read more than {MAX_WORK} samples; narrow it (fewer series, shorter ranges or a larger step)"
            ));
        }
        Ok(())
    }

    /// The value of `expr` at `t` (ms).
    pub(crate) fn eval(&self, expr: &Expr, t: i64) -> Result<Value> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => Ok(Value::Vector(
                    v.into_iter()
                        .map(|e| Element {
                            labels: drop_name(e.labels),
                            value: -e.value,
                            ts: t,
                        })
                        .collect(),
                )),
                other => Err(format!("unary minus of a {}", other.kind())),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.instant(vs, t)?)),
            Expr::MatrixSelector(ms) => {
                Ok(Value::Matrix(self.range(&ms.vs, millis(ms.range), t)?))
            }
            Expr::Call(c) => self.call(c, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Binary(b) => self.binary(b, t),
            Expr::Subquery(_) => Err("subqueries are not supported".into()),
            Expr::Extension(_) => Err("extension expressions are not supported".into()),
        }
    }

    fn series_of(&self, vs: &VectorSelector) -> &[Series] {
        self.data
            .get(&selector_key(vs))
            .map_or(&[][..], Vec::as_slice)
    }

    /// Each series' newest sample within the lookback before `t`.
    fn instant(&self, vs: &VectorSelector, t: i64) -> Result<Vec<Element>> {
        let at = t.saturating_sub(offset_ms(vs));
        let series = self.series_of(vs);
        self.spend(series.len())?;
        Ok(series
            .iter()
            .filter_map(|s| {
                let end = s.points.partition_point(|p| p.0 <= at);
                let &(ts, value) = s.points[..end].last()?;
                (ts >= at.saturating_sub(LOOKBACK_MS)).then(|| Element {
                    labels: s.labels.clone(),
                    value,
                    ts,
                })
            })
            .collect())
    }

    /// Each series' samples in `[t - range, t]` (offset applied).
    fn range(&self, vs: &VectorSelector, range: i64, t: i64) -> Result<Vec<Series>> {
        let end_t = t.saturating_sub(offset_ms(vs));
        let mut out = Vec::new();
        for s in self.series_of(vs) {
            let from = s
                .points
                .partition_point(|p| p.0 < end_t.saturating_sub(range));
            let to = s.points.partition_point(|p| p.0 <= end_t);
            self.spend(to.saturating_sub(from) + 1)?;
            if from < to {
                out.push(Series {
                    labels: s.labels.clone(),
                    points: s.points[from..to].to_vec(),
                });
            }
        }
        Ok(out)
    }

    fn scalar_arg(&self, e: &Expr, t: i64) -> Result<f64> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(format!(
                "expected a scalar argument, got a {}",
                other.kind()
            )),
        }
    }

    fn vector_arg(&self, e: &Expr, t: i64) -> Result<Vec<Element>> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(format!(
                "expected an instant vector argument, got a {}",
                other.kind()
            )),
        }
    }

    fn call(&self, c: &Call, t: i64) -> Result<Value> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| {
            args.get(i)
                .map(|a| &**a)
                .ok_or_else(|| format!("{name}: missing argument {i}"))
        };
        match name {
            "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
            "vector" => {
                let v = self.scalar_arg(arg(0)?, t)?;
                return Ok(Value::Vector(vec![Element {
                    labels: PromLabels::new(),
                    value: v,
                    ts: t,
                }]));
            }
            "scalar" => {
                let v = self.vector_arg(arg(0)?, t)?;
                return Ok(Value::Scalar(match v.as_slice() {
                    [one] => one.value,
                    _ => f64::NAN,
                }));
            }
            "timestamp" => {
                let v = self.vector_arg(arg(0)?, t)?;
                return Ok(Value::Vector(
                    v.into_iter()
                        .map(|e| Element {
                            labels: drop_name(e.labels),
                            value: e.ts as f64 / 1000.0,
                            ts: t,
                        })
                        .collect(),
                ));
            }
            "label_replace" => return self.label_replace(args, t),
            "sort" | "sort_desc" => {
                let mut v = self.vector_arg(arg(0)?, t)?;
                v.sort_by(|a, b| a.value.total_cmp(&b.value));
                if name == "sort_desc" {
                    v.reverse();
                }
                return Ok(Value::Vector(v));
            }
            _ => {}
        }
        // Range-vector functions.
        let range_fn = matches!(
            name,
            "rate"
                | "increase"
                | "delta"
                | "irate"
                | "idelta"
                | "deriv"
                | "predict_linear"
                | "changes"
                | "resets"
        ) || name.ends_with("_over_time");
        if range_fn {
            let (matrix_arg, param) = if name == "quantile_over_time" {
                (arg(1)?, self.scalar_arg(arg(0)?, t)?)
            } else if name == "predict_linear" {
                (arg(0)?, self.scalar_arg(arg(1)?, t)?)
            } else {
                (arg(0)?, 0.0)
            };
            let Expr::MatrixSelector(ms) = matrix_arg else {
                return Err(format!("{name}: expected a range vector selector"));
            };
            let range = millis(ms.range);
            let end = t.saturating_sub(offset_ms(&ms.vs));
            let mut out = Vec::new();
            for s in self.range(&ms.vs, range, t)? {
                let value = match name {
                    "rate" | "increase" | "delta" => functions::extrapolated(
                        &s.points,
                        end.saturating_sub(range),
                        end,
                        name != "delta",
                        name == "rate",
                    ),
                    "irate" => functions::instant(&s.points, true),
                    "idelta" => functions::instant(&s.points, false),
                    "predict_linear" => (s.points.len() >= 2).then(|| {
                        let (slope, intercept) = functions::linear_regression(&s.points, t);
                        slope * param + intercept
                    }),
                    _ => functions::over_time(name, &s.points, param)
                        .ok_or_else(|| format!("function {name} is not supported"))?,
                };
                if let Some(value) = value {
                    let labels = if name == "last_over_time" {
                        s.labels
                    } else {
                        drop_name(s.labels)
                    };
                    out.push(Element {
                        labels,
                        value,
                        ts: t,
                    });
                }
            }
            return Ok(Value::Vector(out));
        }
        // Element-wise math.
        let v = self.vector_arg(arg(0)?, t)?;
        let a = args.get(1).map(|e| self.scalar_arg(e, t)).transpose()?;
        let b = args.get(2).map(|e| self.scalar_arg(e, t)).transpose()?;
        if functions::math(name, 0.0, a.or(Some(1.0)), b.or(Some(1.0))).is_none() {
            return Err(format!("function {name} is not supported"));
        }
        Ok(Value::Vector(
            v.into_iter()
                .filter_map(|e| {
                    functions::math(name, e.value, a, b).map(|value| Element {
                        labels: drop_name(e.labels),
                        value,
                        ts: t,
                    })
                })
                .collect(),
        ))
    }

    fn label_replace(&self, args: &[Box<Expr>], t: i64) -> Result<Value> {
        let text = |i: usize| match args.get(i).map(|a| &**a) {
            Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
            _ => Err(format!("label_replace: argument {i} must be a string")),
        };
        let v = self.vector_arg(args.first().ok_or("label_replace: missing vector")?, t)?;
        let (dst, replacement, src, pattern) = (text(1)?, text(2)?, text(3)?, text(4)?);
        let re = regex::Regex::new(&format!("^(?s:{pattern})$"))
            .map_err(|e| format!("label_replace: invalid regular expression `{pattern}`: {e}"))?;
        Ok(Value::Vector(
            v.into_iter()
                .map(|mut e| {
                    let source = e.labels.get(&src).cloned().unwrap_or_default();
                    if let Some(caps) = re.captures(&source) {
                        let mut value = String::new();
                        caps.expand(&replacement, &mut value);
                        if value.is_empty() {
                            e.labels.remove(&dst);
                        } else {
                            e.labels.insert(dst.clone(), value);
                        }
                    }
                    e
                })
                .collect(),
        ))
    }

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Value> {
        let op = a.op.to_string();
        let input = self.vector_arg(&a.expr, t)?;
        let param = match &a.param {
            Some(p) if op == "count_values" => match &**p {
                Expr::StringLiteral(s) => Some(Value::String(s.val.clone())),
                _ => return Err("count_values: the label must be a string".into()),
            },
            Some(p) => Some(Value::Scalar(self.scalar_arg(p, t)?)),
            None => None,
        };
        // Without by/without, everything is one group.
        let group_key = |labels: &PromLabels| -> PromLabels {
            grouping(labels, a.modifier.as_ref()).unwrap_or_default()
        };
        let mut groups: BTreeMap<PromLabels, Vec<Element>> = BTreeMap::new();
        for e in input {
            groups.entry(group_key(&e.labels)).or_default().push(e);
        }
        let mut out = Vec::new();
        for (key, members) in groups {
            let values = members.iter().map(|e| e.value);
            let n = members.len() as f64;
            let single = |value: f64| Element {
                labels: key.clone(),
                value,
                ts: t,
            };
            match op.as_str() {
                "sum" => out.push(single(values.sum())),
                "avg" => out.push(single(values.sum::<f64>() / n)),
                "count" => out.push(single(n)),
                "group" => out.push(single(1.0)),
                "min" => out.push(single(
                    values.fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
                )),
                "max" => out.push(single(
                    values.fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
                )),
                "stdvar" => out.push(single(functions::variance(values))),
                "stddev" => out.push(single(functions::variance(values).sqrt())),
                "quantile" => {
                    let Some(Value::Scalar(q)) = param else {
                        return Err("quantile needs a parameter".into());
                    };
                    let mut v: Vec<f64> = values.collect();
                    out.push(single(functions::quantile(q, &mut v)));
                }
                "topk" | "bottomk" => {
                    let Some(Value::Scalar(k)) = param else {
                        return Err(format!("{op} needs a parameter"));
                    };
                    let mut sorted = members;
                    sorted.sort_by(|x, y| {
                        let o = x.value.total_cmp(&y.value);
                        if op == "topk" { o.reverse() } else { o }
                    });
                    let k = if k.is_nan() || k < 1.0 { 0 } else { k as usize };
                    out.extend(sorted.into_iter().take(k).map(|e| Element { ts: t, ..e }));
                }
                "count_values" => {
                    let Some(Value::String(label)) = &param else {
                        return Err("count_values needs a label".into());
                    };
                    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
                    for v in values {
                        *counts.entry(super::value::format_value(v)).or_default() += 1.0;
                    }
                    for (value, count) in counts {
                        let mut labels = key.clone();
                        labels.insert(label.clone(), value);
                        out.push(Element {
                            labels,
                            value: count,
                            ts: t,
                        });
                    }
                }
                other => return Err(format!("aggregation {other} is not supported")),
            }
        }
        Ok(Value::Vector(out))
    }

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Value> {
        let op = b.op.to_string();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = ops::elem(&op, l, r)?;
                Ok(Value::Scalar(if ops::is_comparison(&op) {
                    f64::from(u8::from(keep))
                } else {
                    v
                }))
            }
            (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(ops::scalar_op(
                &op,
                v,
                s,
                false,
                return_bool,
                t,
            )?)),
            (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(ops::scalar_op(
                &op,
                v,
                s,
                true,
                return_bool,
                t,
            )?)),
            (Value::Vector(l), Value::Vector(r)) => {
                Ok(Value::Vector(ops::vector_op(b, &op, l, r, return_bool, t)?))
            }
            (l, r) => Err(format!(
                "operator {op} between a {} and a {}",
                l.kind(),
                r.kind()
            )),
        }
    }
}
