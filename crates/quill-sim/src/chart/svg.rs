//! A tiny SVG writer: elements as strings, numbers through [`num`], text
//! through [`escape`]. Nothing here iterates a hash map, so the same calls
//! give the same bytes.

use std::fmt::Write as _;

use super::text::{escape, num, push_num};

/// The document being written.
#[derive(Debug, Default)]
pub(crate) struct Svg {
    out: String,
}

/// Text alignment (`text-anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn attr(self) -> &'static str {
        match self {
            Anchor::Start => "",
            Anchor::Middle => " text-anchor=\"middle\"",
            Anchor::End => " text-anchor=\"end\"",
        }
    }
}

/// How a piece of text looks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Font {
    pub size: f64,
    pub bold: bool,
    pub fill: &'static str,
    /// Draw a white outline under the glyphs so the text stays readable
    /// over lines and shading.
    pub halo: bool,
}

impl Font {
    pub(crate) const fn plain(size: f64, fill: &'static str) -> Font {
        Font {
            size,
            bold: false,
            fill,
            halo: false,
        }
    }

    pub(crate) const fn bold(self) -> Font {
        Font { bold: true, ..self }
    }

    pub(crate) const fn halo(self) -> Font {
        Font { halo: true, ..self }
    }

    /// Rough width of `s` in pixels. There are no font metrics here (the
    /// viewer picks the font), so this uses DejaVu Sans's average advance,
    /// one of the widest common sans-serif faces, to err on the wide side.
    pub(crate) fn width(&self, s: &str) -> f64 {
        let em = if self.bold { 0.65 } else { 0.56 };
        s.chars().count() as f64 * self.size * em
    }

    /// Greedy word wrap to lines no wider than `width` pixels; a word
    /// longer than a line gets a line of its own.
    pub(crate) fn wrap(&self, s: &str, width: f64) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for word in s.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && self.width(&candidate) > width {
                lines.push(std::mem::replace(&mut line, word.to_string()));
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}

impl Svg {
    pub(crate) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }

    pub(crate) fn open_group(&mut self, title: &str, attrs: &str) {
        let _ = writeln!(self.out, "<g{attrs}><title>{}</title>", escape(title));
    }

    pub(crate) fn close_group(&mut self) {
        self.out.push_str("</g>\n");
    }

    pub(crate) fn text(&mut self, x: f64, y: f64, anchor: Anchor, font: Font, s: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{}\"{} font-size=\"{}\"{} fill=\"{}\"{}>{}</text>",
            num(x),
            num(y),
            anchor.attr(),
            num(font.size),
            if font.bold {
                " font-weight=\"bold\""
            } else {
                ""
            },
            font.fill,
            if font.halo {
                " stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\""
            } else {
                ""
            },
            escape(s)
        );
    }

    /// One line of text in several colours (`(fill, text)` pieces), so
    /// that the pieces follow each other whatever the font's widths.
    pub(crate) fn text_spans(&mut self, x: f64, y: f64, font: Font, spans: &[(&str, &str)]) {
        let _ = write!(
            self.out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" xml:space=\"preserve\">",
            num(x),
            num(y),
            num(font.size)
        );
        for (fill, text) in spans {
            let _ = write!(self.out, "<tspan fill=\"{fill}\">{}</tspan>", escape(text));
        }
        self.out.push_str("</text>\n");
    }

    /// A straight line; `style` holds the stroke attributes.
    pub(crate) fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {style}/>",
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        );
    }

    pub(crate) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {style}/>",
            num(x),
            num(y),
            num(w),
            num(h)
        );
    }

    pub(crate) fn circle(&mut self, cx: f64, cy: f64, r: f64, style: &str) {
        let _ = writeln!(
            self.out,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" {style}/>",
            num(cx),
            num(cy),
            num(r)
        );
    }

    /// A path; empty `d` writes nothing.
    pub(crate) fn path(&mut self, d: &str, style: &str) {
        if !d.is_empty() {
            let _ = writeln!(self.out, "<path d=\"{d}\" {style}/>");
        }
    }
}

/// Path data (`d`) builder with absolute commands.
#[derive(Debug, Default)]
pub(crate) struct PathData {
    d: String,
}

impl PathData {
    pub(crate) fn move_to(&mut self, x: f64, y: f64) {
        self.d.push('M');
        push_num(&mut self.d, x);
        self.d.push(' ');
        push_num(&mut self.d, y);
    }

    pub(crate) fn h(&mut self, x: f64) {
        self.d.push('H');
        push_num(&mut self.d, x);
    }

    pub(crate) fn v(&mut self, y: f64) {
        self.d.push('V');
        push_num(&mut self.d, y);
    }

    /// An axis-aligned rectangle as a closed sub-path.
    pub(crate) fn rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        self.move_to(x0, y0);
        self.h(x1);
        self.v(y1);
        self.h(x0);
        self.close();
    }

    pub(crate) fn close(&mut self) {
        self.d.push('Z');
    }

    pub(crate) fn into_string(self) -> String {
        self.d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping() {
        let f = Font::plain(10.0, "#000");
        assert_eq!(f.wrap("aa bb cc", 30.0), ["aa bb", "cc"]);
        assert_eq!(f.wrap("aaaaaaaaaa b", 30.0), ["aaaaaaaaaa", "b"]);
        assert!(f.wrap("  ", 30.0).is_empty());
        assert!(f.bold().width("abc") > f.width("abc"));
    }
}
