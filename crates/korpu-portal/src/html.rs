//! How the portal writes HTML: compiled [maud](https://maud.lambda.xyz) templates (`html!`),
//! which escape every interpolated value — text and attribute values alike — so markup can
//! only come from the templates' own literals, and a misspelt element or unclosed tag does
//! not compile. Values that go into a URL are percent-encoded with [`url_part`] first, then
//! escaped by the template like any other value.
//!
//! There is no `PreEscaped` of data anywhere in the portal: a handler's page body is a
//! [`maud::Markup`] built by `html!`, and the frame takes it as such. Nothing here sanitises
//! HTML from outside, because nothing from outside is ever inserted unescaped.

/// Percent-encodes a URL query or path component.
pub fn url_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A value that breaks out of element text and of a double-quoted attribute unless escaped,
/// for the templates' tests.
#[cfg(test)]
pub(crate) const HOSTILE: &str = "\"><script>alert(1)</script>";

/// [`HOSTILE`] as every template must write it.
#[cfg(test)]
pub(crate) const HOSTILE_ESCAPED: &str = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;";

#[cfg(test)]
mod tests {
    use super::*;
    use maud::html;

    /// The guarantee every page relies on, in each kind of slot: text, an attribute value and
    /// a URL built from a value.
    #[test]
    fn text_attributes_and_urls_cannot_inject_markup() {
        let text = "<script>alert('x')</script>&";
        let attr = "\" onmouseover=\"x";
        let h = html! { p title=(attr) { (text) } a href={ "/x?q=" (url_part(attr)) } { "x" } };
        assert_eq!(
            h.into_string(),
            "<p title=\"&quot; onmouseover=&quot;x\">&lt;script&gt;alert('x')&lt;/script&gt;&amp;</p>\
             <a href=\"/x?q=%22%20onmouseover%3D%22x\">x</a>"
        );
        assert_eq!(url_part("a b/ç"), "a%20b%2F%C3%A7");
    }
}
