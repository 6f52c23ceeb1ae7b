//! SVG primitives for the charts of `report.html`: the plot `Frame` (linear or log axes),
//! grid and axes, lines, legends, fault bands and the "no data" note. Sizes are SVG user units.

use std::fmt::Write;

use super::esc;
use crate::report::FaultRecord;

/// Chart size in SVG user units (the page scales them to its width).
pub(super) const WIDTH: f64 = 1200.0;
pub(super) const HEIGHT: f64 = 320.0;
pub(super) const LEFT: f64 = 80.0;
pub(super) const RIGHT: f64 = 44.0;
pub(super) const TOP: f64 = 54.0;
pub(super) const BOTTOM: f64 = 48.0;

/// A plot area with linear (or log10) axes, in SVG coordinates.
pub(super) struct Frame {
    pub(super) x_min: f64,
    pub(super) x_max: f64,
    pub(super) x_log: bool,
    /// Bottom of the y axis: 0, or a power of ten when `y_log`.
    pub(super) y_min: f64,
    pub(super) y_max: f64,
    pub(super) y_log: bool,
}

impl Frame {
    /// Linear axes: seconds of the run across, 0..`y_max` up.
    pub(super) fn over_time(end_s: f64, y_max: f64) -> Self {
        Self {
            x_min: 0.0,
            x_max: end_s,
            x_log: false,
            y_min: 0.0,
            y_max,
            y_log: false,
        }
    }

    pub(super) fn x(&self, v: f64) -> f64 {
        let (lo, hi, v) = if self.x_log {
            (
                self.x_min.log10(),
                self.x_max.log10(),
                v.max(self.x_min).log10(),
            )
        } else {
            (self.x_min, self.x_max, v)
        };
        LEFT + (v - lo) / (hi - lo).max(f64::EPSILON) * (WIDTH - LEFT - RIGHT)
    }

    pub(super) fn y(&self, v: f64) -> f64 {
        let share = if self.y_log {
            let lo = self.y_min.log10();
            (v.max(self.y_min).log10() - lo) / (self.y_max.log10() - lo).max(f64::EPSILON)
        } else {
            (v - self.y_min) / (self.y_max - self.y_min).max(f64::EPSILON)
        };
        HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
    }
}

/// "Nice" tick step (1, 2 or 5 times a power of ten) for about `ticks` ticks up to `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    step.max(f64::MIN_POSITIVE)
}

/// The y scale: a nice maximum above `max` and its step.
pub(super) fn y_scale(max: f64, integer: bool) -> (f64, f64) {
    let max = if max <= 0.0 { 1.0 } else { max };
    let mut step = nice_step(max, 5.0);
    if integer {
        step = step.max(1.0).round();
    }
    ((max / step).ceil() * step, step)
}

/// Opens an SVG chart: background, grid, y ticks (labelled by `label`) and a linear x time axis.
pub(super) fn open_chart(
    out: &mut String,
    frame: &Frame,
    y_step: f64,
    y_label: &str,
    label: impl Fn(f64) -> String,
) {
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\"><rect x=\"0\" y=\"0\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" fill=\"#fff\"/>"
    );
    let mut ticks = Vec::new();
    if frame.y_log {
        // Every power of ten; 2x and 5x as well when the axis spans few decades.
        let few = frame.y_max / frame.y_min <= 100.0;
        let mut decade = frame.y_min;
        while decade <= frame.y_max * 1.000_001 {
            for m in [1.0, 2.0, 5.0] {
                if (m == 1.0 || few) && decade * m <= frame.y_max * 1.000_001 {
                    ticks.push(decade * m);
                }
            }
            decade *= 10.0;
        }
    } else {
        let mut v = frame.y_min;
        while v <= frame.y_max + y_step * 1e-6 {
            ticks.push(v);
            v += y_step;
        }
    }
    for v in ticks {
        let y = frame.y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e6e6e6\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            y + 5.0,
            esc(&label(v))
        );
    }
    let _ = write!(
        out,
        "<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\" \
         fill=\"#444\">{}</text>",
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        esc(y_label)
    );
}

pub(super) fn time_axis(out: &mut String, frame: &Frame) {
    let step = nice_step(frame.x_max - frame.x_min, 10.0).max(1.0);
    x_axis(out, frame, step, "time since start", time_label);
}

/// An x axis from 0 to the frame's end: a tick and its label every `step`, the axis lines and
/// `x_label` under them.
pub(super) fn x_axis(
    out: &mut String,
    frame: &Frame,
    step: f64,
    x_label: &str,
    label: impl Fn(f64) -> String,
) {
    let mut v = 0.0;
    while v <= frame.x_max + 1e-9 {
        let x = frame.x(v);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 5.0,
            HEIGHT - BOTTOM + 22.0,
            label(v)
        );
        v += step;
    }
    axis_lines(out, x_label);
}

fn time_label(t: f64) -> String {
    if t >= 120.0 && (t % 60.0).abs() < 1e-9 {
        format!("{}m", t / 60.0)
    } else {
        format!("{t}s")
    }
}

fn axis_lines(out: &mut String, x_label: &str) {
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b:.1}\" stroke=\"#444\"/>\
         <line x1=\"{LEFT}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\" stroke=\"#444\"/>\
         <text x=\"{c:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
        HEIGHT - 6.0,
        esc(x_label),
        b = HEIGHT - BOTTOM,
        r = WIDTH - RIGHT,
        c = (LEFT + WIDTH - RIGHT) / 2.0,
    );
}

/// Shaded bands for the faults (a thin band for instant ones), labelled at the top.
pub(super) fn fault_bands(out: &mut String, frame: &Frame, faults: &[FaultRecord]) {
    for f in faults {
        let color = match f.kind.as_str() {
            "server_kill" => "#d62728",
            "drop" => "#ff7f0e",
            _ => "#7f7f7f",
        };
        let x1 = frame.x(f.started_s);
        let x2 = frame.x(f.ended_s.unwrap_or(frame.x_max));
        let width = (x2 - x1).max(3.0);
        let _ = write!(
            out,
            "<rect x=\"{x1:.1}\" y=\"{TOP}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{color}\" \
             fill-opacity=\"0.18\" stroke=\"{color}\" stroke-opacity=\"0.6\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\" font-weight=\"600\">{}</text>",
            HEIGHT - TOP - BOTTOM,
            x1 + 4.0,
            TOP - 8.0,
            esc(&f.kind)
        );
    }
}

/// Polylines through the points; `None` breaks the line.
pub(super) fn line(
    out: &mut String,
    frame: &Frame,
    points: &[(f64, Option<f64>)],
    color: &str,
    dashed: bool,
) {
    let mut segment: Vec<String> = Vec::new();
    let dash = if dashed {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let flush = |segment: &mut Vec<String>, out: &mut String| {
        if segment.len() == 1 {
            let xy: Vec<&str> = segment[0].split(',').collect();
            let _ = write!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{color}\"/>",
                xy[0],
                xy.get(1).unwrap_or(&"0")
            );
        } else if segment.len() > 1 {
            let _ = write!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
                segment.join(" ")
            );
        }
        segment.clear();
    };
    for (x, y) in points {
        match y {
            Some(y) => segment.push(format!("{:.1},{:.1}", frame.x(*x), frame.y(*y))),
            None => flush(&mut segment, out),
        }
    }
    flush(&mut segment, out);
}

pub(super) fn legend(out: &mut String, entries: &[(&str, &str)]) {
    let mut x = WIDTH - RIGHT;
    for (name, color) in entries.iter().rev() {
        x -= 14.0 + 8.5 * name.len() as f64 + 18.0;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"8\" width=\"14\" height=\"14\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"20\" fill=\"#333\">{}</text>",
            x + 19.0,
            esc(name)
        );
    }
}

pub(super) fn no_data(out: &mut String, text: &str) {
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#888\" font-size=\"18\">{}</text>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        esc(text)
    );
}

/// A microsecond tick label without a needless decimal: `0`, `500us`, `2ms`, `1.5s`.
pub(super) fn tick_us(us: f64) -> String {
    if us <= 0.0 {
        return "0".into();
    }
    let (value, unit) = if us < 1e3 {
        (us, "us")
    } else if us < 1e6 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    };
    let text = format!("{value:.1}");
    format!("{}{unit}", text.trim_end_matches(".0"))
}

/// The log x axis: a labelled tick at every power of ten, faint ticks at 2..9 times it.
pub(super) fn decade_axis(out: &mut String, frame: &Frame) {
    let mut decade = frame.x_min;
    while decade <= frame.x_max * 1.000_001 {
        let x = frame.x(decade);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e6e6e6\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
            HEIGHT - BOTTOM + 5.0,
            HEIGHT - BOTTOM + 22.0,
            tick_us(decade)
        );
        for m in 2..10 {
            let minor = decade * f64::from(m);
            if minor < frame.x_max {
                let x = frame.x(minor);
                let _ = write!(
                    out,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#999\"/>",
                    HEIGHT - BOTTOM,
                    HEIGHT - BOTTOM + 4.0
                );
            }
        }
        decade *= 10.0;
    }
    axis_lines(out, "value (log scale)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_and_steps() {
        assert_eq!(tick_us(0.0), "0");
        assert_eq!(tick_us(500.0), "500us");
        assert_eq!(tick_us(2000.0), "2ms");
        assert_eq!(tick_us(1_500_000.0), "1.5s");
        assert_eq!(nice_step(45.0, 10.0), 5.0);
        assert_eq!(nice_step(1800.0, 10.0), 200.0);
        assert_eq!(y_scale(2000.0, true), (2000.0, 500.0));
        assert_eq!(y_scale(0.0, true), (1.0, 1.0));
    }

    #[test]
    fn faults_become_bands_even_when_instant_or_unfinished() {
        let frame = Frame::over_time(10.0, 1.0);
        let fault = |kind: &str, started_s, ended_s| FaultRecord {
            ended_s,
            ..FaultRecord::started(0, kind, started_s, 1)
        };
        let mut out = String::new();
        fault_bands(
            &mut out,
            &frame,
            &[
                fault("drop", 2.0, Some(2.0)),
                fault("server_kill", 5.0, None),
            ],
        );
        assert_eq!(out.matches("<rect").count(), 2);
        assert!(
            out.contains("width=\"3.0\""),
            "an instant fault is a thin band: {out}"
        );
        let to_end = format!("width=\"{:.1}\"", frame.x(10.0) - frame.x(5.0));
        assert!(
            out.contains(&to_end),
            "an unfinished one runs to the end: {out}"
        );
    }
}
