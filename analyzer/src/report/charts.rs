//! Line charts as SVG text (plotters' SVG backend), so the HTML report embeds them inline and
//! stays one self-contained file; the browser (or headless Chromium for PDF) renders the text.

use plotters::prelude::*;

use super::{ReportError, Trend};

const SIZE: (u32, u32) = (760, 260);

/// `11-29 18:00`: dates matter over a week, minutes over a day.
fn time_label(ms: &i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis((*ms).max(0) as u64);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    text.get(5..16).unwrap_or(&text).replace('T', " ")
}

/// One chart of `lines` (all of the same unit) over `[start, end]`.
pub fn line_chart(
    title: &str,
    lines: &[&Trend],
    start: i64,
    end: i64,
) -> Result<String, ReportError> {
    let fail = |e: &dyn std::fmt::Display| ReportError::Chart {
        chart: title.to_owned(),
        message: e.to_string(),
    };
    let unit = lines.first().map_or(crate::units::Unit::Plain, |t| t.unit);
    let lowest = lines.iter().map(|t| t.min).fold(f64::INFINITY, f64::min);
    let highest = lines
        .iter()
        .map(|t| t.max)
        .fold(f64::NEG_INFINITY, f64::max);
    let (low, high) = if lowest.is_finite() && highest.is_finite() {
        let pad = ((highest - lowest) * 0.1)
            .max(highest.abs() * 0.05)
            .max(1e-9);
        ((lowest - pad).max(0.0_f64.min(lowest)), highest + pad)
    } else {
        (0.0, 1.0)
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(78)
            .build_cartesian_2d(start..end.max(start + 1), low..high)
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&time_label)
            .y_label_formatter(&|v| unit.show(*v))
            .draw()
            .map_err(|e| fail(&e))?;
        for (i, trend) in lines.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    trend.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| fail(&e))?
                .label(trend.series.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        if !lines.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| fail(&e))?;
        }
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Unit;

    #[test]
    fn draws_an_svg_with_each_line_and_its_legend() {
        let trend = |name: &str, base: f64| Trend {
            chart: "cpu",
            series: name.to_owned(),
            unit: Unit::Ratio,
            min: base,
            max: base + 0.3,
            avg: base + 0.15,
            first: base,
            last: base + 0.3,
            points: (0..10)
                .map(|i| (i * 60_000, base + i as f64 / 30.0))
                .collect(),
        };
        let (a, b) = (trend("web1", 0.1), trend("db1", 0.4));
        let svg = line_chart("CPU", &[&a, &b], 0, 540_000).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        let lines: Vec<&str> = svg
            .split("<polyline")
            .filter(|p| p.contains("stroke-width=\"2\""))
            .collect();
        assert_eq!(lines.len(), 2, "one polyline per series: {svg}");
        for line in lines {
            let points = line
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert_eq!(points.split_whitespace().count(), 10, "{line}");
        }
        assert!(svg.contains("web1") && svg.contains("db1"), "legend");
        assert!(svg.contains("01-01 00:0"), "time labels");
    }
}
