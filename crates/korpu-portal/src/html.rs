//! A tiny HTML builder: every piece of text goes through [`esc`], so markup can only come from
//! the portal's own literals. Pages are plain strings assembled by the handlers; there is no
//! template engine (one less dependency, and the compiler checks every page).
//!
//! It does not sanitise HTML from outside: nothing from outside is ever inserted unescaped.

use std::fmt::Write as _;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a URL query or path component.
pub fn url_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An HTML fragment under construction.
#[derive(Default)]
pub struct Html(pub String);

impl Html {
    pub fn new() -> Self {
        Self(String::with_capacity(4096))
    }
    /// Appends trusted markup (a literal of the portal's own).
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.0.push_str(s);
        self
    }
    /// Appends escaped text.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.0.push_str(&esc(s));
        self
    }
    /// `<tag attrs>escaped text</tag>`; attribute values are escaped.
    pub fn el(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(tag, attrs);
        self.text(text);
        let _ = write!(self.0, "</{tag}>");
        self
    }
    /// `<tag attrs>` with escaped attribute values.
    pub fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let _ = write!(self.0, "<{tag}");
        for (k, v) in attrs {
            let _ = write!(self.0, " {k}=\"{}\"", esc(v));
        }
        self.0.push('>');
        self
    }
    pub fn close(&mut self, tag: &str) -> &mut Self {
        let _ = write!(self.0, "</{tag}>");
        self
    }
    /// A link.
    pub fn a(&mut self, href: &str, text: &str) -> &mut Self {
        self.el("a", &[("href", href)], text)
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_cannot_inject_markup() {
        let mut h = Html::new();
        h.el(
            "p",
            &[("title", "\" onmouseover=\"x")],
            "<script>alert('x')</script>&",
        );
        assert_eq!(
            h.0,
            "<p title=\"&quot; onmouseover=&quot;x\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</p>"
        );
        assert_eq!(url_part("a b/ç"), "a%20b%2F%C3%A7");
    }
}
