//! A bounded XML reader into a small tree, and canonical XML (W3C C14N 1.0, C14N 1.1 and
//! Exclusive C14N 1.0, with and without comments) of a document or of one element, as XML
//! signatures need them.
//!
//! XML signatures come from outside, so reading is bounded ([`Limits`]: size, depth, nodes,
//! attributes per element) and a document type declaration is refused outright: no DTD means no
//! entity expansion ("billion laughs"), no external entities and no default attributes, so the
//! tree is exactly what the bytes say. Only the five predefined entities and character
//! references are expanded. Namespace prefixes must be declared.
//!
//! Not here: XPath, XPointer beyond `#id`, `xml:base` fix-up of C14N 1.1 (refused as
//! unsupported when an ancestor outside the canonicalised subtree carries `xml:base`), and
//! encodings other than UTF-8.
use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};

/// The XML namespace, bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Bounds on what reading one XML document may cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document in bytes. Default 16 MiB.
    pub max_size: usize,
    /// Deepest element nesting. Default 64.
    pub max_depth: usize,
    /// Most nodes (elements, texts, comments, processing instructions). Default 200,000.
    pub max_nodes: usize,
    /// Most attributes (namespace declarations included) on one element. Default 64.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 16 << 20,
            max_depth: 64,
            max_nodes: 200_000,
            max_attributes: 64,
        }
    }
}

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed (or not UTF-8).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A `<!DOCTYPE`: refused, since a DTD can declare entities.
    #[error("a DOCTYPE is not allowed (entities and DTDs are refused)")]
    Doctype,
    /// A limit of [`Limits`] was exceeded.
    #[error("the XML exceeds the limit on {0}")]
    TooLarge(&'static str),
    /// A namespace prefix without declaration.
    #[error("namespace prefix \"{0}\" is not declared")]
    UndeclaredPrefix(String),
    /// Two elements carry the same ID (an attack on reference resolution).
    #[error("ID \"{0}\" is given to more than one element")]
    DuplicateId(String),
    /// Something the canonicaliser does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// A node's index in its [`Document`].
pub type NodeId = usize;

/// One node of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Character data (entities expanded, line ends normalised).
    Text(String),
    /// A comment's content.
    Comment(String),
    /// A processing instruction: target and data.
    Pi(String, String),
}

/// An element with its attributes as written (namespace declarations included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Qualified name as written, e.g. `ds:Signature`.
    pub qname: String,
    /// Attributes as (qualified name, normalised value), in document order.
    pub attrs: Vec<(String, String)>,
    /// Child nodes in order.
    pub children: Vec<NodeId>,
    /// The parent element, `None` for the document element.
    pub parent: Option<NodeId>,
}

impl Element {
    /// The part of the name after the prefix.
    pub fn local_name(&self) -> &str {
        split_qname(&self.qname).1
    }

    /// The value of the attribute whose qualified name is `qname`.
    pub fn attr(&self, qname: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == qname)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed document: an arena of nodes, the document element, and what stands before and
/// after it (comments and processing instructions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    nodes: Vec<Node>,
    root: NodeId,
    before: Vec<NodeId>,
    after: Vec<NodeId>,
    /// ID value → the elements carrying it, built once at parse time so that resolving many
    /// references costs no walk of the whole tree each.
    ids: BTreeMap<String, Vec<NodeId>>,
}

fn split_qname(q: &str) -> (&str, &str) {
    match q.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", q),
    }
}

/// Literal tabs, line feeds and carriage returns in an attribute value become spaces (XML 1.0
/// §3.3.3, after §2.11 line-end normalisation), then references are expanded.
fn attr_value(raw: &[u8]) -> Result<String, XmlError> {
    let s = std::str::from_utf8(raw).map_err(|e| XmlError::Malformed(e.to_string()))?;
    let s = s.replace("\r\n", " ").replace(['\r', '\n', '\t'], " ");
    quick_xml::escape::unescape(&s)
        .map(|c| c.into_owned())
        .map_err(|e| XmlError::Malformed(format!("attribute value: {e}")))
}

/// Character data with line ends normalised (XML 1.0 §2.11) and references expanded.
fn text_value(raw: &[u8], unescape: bool) -> Result<String, XmlError> {
    let s = std::str::from_utf8(raw).map_err(|e| XmlError::Malformed(e.to_string()))?;
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    if !unescape {
        return Ok(s);
    }
    quick_xml::escape::unescape(&s)
        .map(|c| c.into_owned())
        .map_err(|e| XmlError::Malformed(format!("text: {e}")))
}

impl Document {
    /// Parses `bytes` (UTF-8) within `limits`.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Document, XmlError> {
        if bytes.len() > limits.max_size {
            return Err(XmlError::TooLarge("size"));
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| XmlError::Malformed(e.to_string()))?;
        let mut reader = quick_xml::Reader::from_str(text);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        let mut nodes: Vec<Node> = Vec::new();
        let mut stack: Vec<NodeId> = Vec::new();
        let mut root = None;
        let mut before = Vec::new();
        let mut after = Vec::new();
        let push = |nodes: &mut Vec<Node>, n: Node| -> Result<NodeId, XmlError> {
            if nodes.len() >= limits.max_nodes {
                return Err(XmlError::TooLarge("nodes"));
            }
            nodes.push(n);
            Ok(nodes.len() - 1)
        };
        loop {
            let ev = reader
                .read_event()
                .map_err(|e| XmlError::Malformed(e.to_string()))?;
            let misc = match ev {
                Event::DocType(_) => return Err(XmlError::Doctype),
                Event::Decl(d) => {
                    if let Some(Ok(enc)) = d.encoding() {
                        if !enc.eq_ignore_ascii_case(b"utf-8") && !enc.eq_ignore_ascii_case(b"utf8")
                        {
                            return Err(XmlError::Unsupported(format!(
                                "encoding {}",
                                String::from_utf8_lossy(&enc)
                            )));
                        }
                    }
                    None
                }
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(ev, Event::Empty(_));
                    if stack.is_empty() && root.is_some() {
                        return Err(XmlError::Malformed("more than one document element".into()));
                    }
                    if stack.len() >= limits.max_depth {
                        return Err(XmlError::TooLarge("depth"));
                    }
                    let el = element(e, stack.last().copied(), limits)?;
                    let id = push(&mut nodes, Node::Element(el))?;
                    match stack.last() {
                        Some(&p) => children(&mut nodes, p).push(id),
                        None => root = Some(id),
                    }
                    if !empty {
                        stack.push(id);
                    }
                    None
                }
                Event::End(_) => {
                    stack.pop();
                    None
                }
                Event::Text(t) => {
                    let s = text_value(&t, true)?;
                    match stack.last() {
                        Some(&p) => {
                            let id = push(&mut nodes, Node::Text(s))?;
                            children(&mut nodes, p).push(id);
                        }
                        None if s.trim_matches([' ', '\t', '\n']).is_empty() => {}
                        None => {
                            return Err(XmlError::Malformed(
                                "text outside the document element".into(),
                            ))
                        }
                    }
                    None
                }
                Event::CData(t) => {
                    let s = text_value(&t, false)?;
                    let Some(&p) = stack.last() else {
                        return Err(XmlError::Malformed(
                            "CDATA outside the document element".into(),
                        ));
                    };
                    let id = push(&mut nodes, Node::Text(s))?;
                    children(&mut nodes, p).push(id);
                    None
                }
                Event::Comment(t) => Some(Node::Comment(text_value(&t, false)?)),
                Event::PI(p) => {
                    let target = String::from_utf8_lossy(p.target()).into_owned();
                    let data = text_value(p.content(), false)?;
                    Some(Node::Pi(target, data.trim_start().to_owned()))
                }
                Event::Eof => break,
            };
            if let Some(n) = misc {
                let id = push(&mut nodes, n)?;
                match (stack.last(), root) {
                    (Some(&p), _) => children(&mut nodes, p).push(id),
                    (None, None) => before.push(id),
                    (None, Some(_)) => after.push(id),
                }
            }
        }
        if !stack.is_empty() {
            return Err(XmlError::Malformed(
                "the document ends inside an element".into(),
            ));
        }
        let root = root.ok_or_else(|| XmlError::Malformed("no document element".into()))?;
        let mut doc = Document {
            nodes,
            root,
            before,
            after,
            ids: BTreeMap::new(),
        };
        doc.check_namespaces()?;
        let mut ids: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
        for n in doc.descendants(doc.root) {
            let e = doc.element(n).expect("descendants are elements");
            for (k, v) in &e.attrs {
                if matches!(k.as_str(), "Id" | "ID" | "id" | "xml:id") {
                    let at = ids.entry(v.clone()).or_default();
                    if at.last() != Some(&n) {
                        at.push(n);
                    }
                }
            }
        }
        doc.ids = ids;
        Ok(doc)
    }

    /// The document element.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The node with index `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The element with index `id`, if it is one.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match self.nodes.get(id) {
            Some(Node::Element(e)) => Some(e),
            _ => None,
        }
    }

    /// The namespace URI of element `id` (empty when it has none).
    pub fn ns(&self, id: NodeId) -> String {
        let Some(e) = self.element(id) else {
            return String::new();
        };
        let (prefix, _) = split_qname(&e.qname);
        self.lookup(id, prefix).unwrap_or_default()
    }

    /// Whether element `id` is `{ns}local`.
    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| e.local_name() == local && self.ns(id) == ns)
    }

    /// Child elements of `id` named `{ns}local`.
    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.element(id)
            .map(|e| e.children.as_slice())
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(move |&c| self.is(c, ns, local))
    }

    /// The first child element of `id` named `{ns}local`.
    pub fn child(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        self.children_named(id, ns, local).next()
    }

    /// The concatenated text content of `id` and its descendants.
    pub fn text(&self, id: NodeId) -> String {
        let mut s = String::new();
        self.collect_text(id, &mut s);
        s
    }

    fn collect_text(&self, id: NodeId, out: &mut String) {
        match &self.nodes[id] {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => {
                for &c in &e.children {
                    self.collect_text(c, out);
                }
            }
            _ => {}
        }
    }

    /// All descendant elements of `id` (itself included), in document order.
    pub fn descendants(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut todo = vec![id];
        while let Some(n) = todo.pop() {
            if let Some(e) = self.element(n) {
                out.push(n);
                todo.extend(e.children.iter().rev().copied());
            }
        }
        out
    }

    /// The element whose `Id` (or `ID`, `id`, `xml:id`) attribute is `value`; an ID given twice
    /// is an error, so a reference can never be resolved to a planted copy.
    pub fn by_id(&self, value: &str) -> Result<Option<NodeId>, XmlError> {
        match self.ids.get(value).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([n]) => Ok(Some(*n)),
            Some(_) => Err(XmlError::DuplicateId(value.chars().take(100).collect())),
        }
    }

    /// The URI bound to `prefix` ("" for the default namespace) in scope at element `id`.
    pub fn lookup(&self, id: NodeId, prefix: &str) -> Option<String> {
        if prefix == "xml" {
            return Some(XML_NS.into());
        }
        let want = if prefix.is_empty() {
            "xmlns".to_owned()
        } else {
            format!("xmlns:{prefix}")
        };
        let mut cur = Some(id);
        while let Some(n) = cur {
            let e = self.element(n)?;
            if let Some(v) = e.attr(&want) {
                return Some(v.to_owned());
            }
            cur = e.parent;
        }
        None
    }

    /// Namespace declarations in scope at `id`: prefix ("" for default) → URI, an undeclared
    /// default (`xmlns=""`) as an empty URI.
    fn scope(&self, id: NodeId) -> BTreeMap<String, String> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(n) = cur {
            let Some(e) = self.element(n) else { break };
            chain.push(e);
            cur = e.parent;
        }
        let mut map = BTreeMap::new();
        for e in chain.into_iter().rev() {
            for (k, v) in &e.attrs {
                if k == "xmlns" {
                    map.insert(String::new(), v.clone());
                } else if let Some(p) = k.strip_prefix("xmlns:") {
                    map.insert(p.to_owned(), v.clone());
                }
            }
        }
        map
    }

    fn check_namespaces(&self) -> Result<(), XmlError> {
        for n in self.descendants(self.root) {
            let e = self.element(n).expect("descendants are elements");
            let (p, _) = split_qname(&e.qname);
            if !p.is_empty() && self.lookup(n, p).is_none() {
                return Err(XmlError::UndeclaredPrefix(p.into()));
            }
            for (k, _) in &e.attrs {
                let (p, _) = split_qname(k);
                if !p.is_empty() && p != "xmlns" && self.lookup(n, p).is_none() {
                    return Err(XmlError::UndeclaredPrefix(p.into()));
                }
            }
        }
        Ok(())
    }
}

fn children(nodes: &mut [Node], parent: NodeId) -> &mut Vec<NodeId> {
    match &mut nodes[parent] {
        Node::Element(e) => &mut e.children,
        _ => unreachable!("only elements are pushed on the stack"),
    }
}

fn element(
    e: &BytesStart<'_>,
    parent: Option<NodeId>,
    limits: &Limits,
) -> Result<Element, XmlError> {
    let qname = std::str::from_utf8(e.name().as_ref())
        .map_err(|e| XmlError::Malformed(e.to_string()))?
        .to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|e| XmlError::Malformed(format!("attribute: {e}")))?;
        if attrs.len() >= limits.max_attributes {
            return Err(XmlError::TooLarge("attributes"));
        }
        let k = std::str::from_utf8(a.key.as_ref())
            .map_err(|e| XmlError::Malformed(e.to_string()))?
            .to_owned();
        attrs.push((k, attr_value(&a.value)?));
    }
    Ok(Element {
        qname,
        attrs,
        children: Vec::new(),
        parent,
    })
}

/// A canonicalisation algorithm, by its URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct C14n {
    /// Exclusive C14N (xml-exc-c14n) rather than inclusive.
    pub exclusive: bool,
    /// C14N 1.1 rather than 1.0 (inclusive only).
    pub v11: bool,
    /// Comments kept.
    pub with_comments: bool,
    /// Exclusive C14N's InclusiveNamespaces PrefixList ("#default" for the default namespace).
    pub inclusive_prefixes: Vec<String>,
}

impl C14n {
    /// The algorithm named by `uri`, or `None` when it is not a canonicalisation Körpü has.
    pub fn from_uri(uri: &str) -> Option<C14n> {
        let (exclusive, v11, with_comments) = match uri {
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315" => (false, false, false),
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments" => (false, false, true),
            "http://www.w3.org/2006/12/xml-c14n11" => (false, true, false),
            "http://www.w3.org/2006/12/xml-c14n11#WithComments" => (false, true, true),
            "http://www.w3.org/2001/10/xml-exc-c14n#" => (true, false, false),
            "http://www.w3.org/2001/10/xml-exc-c14n#WithComments" => (true, false, true),
            _ => return None,
        };
        Some(C14n {
            exclusive,
            v11,
            with_comments,
            inclusive_prefixes: Vec::new(),
        })
    }

    /// The default of XML-DSig for turning a node set into octets: inclusive C14N 1.0.
    pub fn default_inclusive() -> C14n {
        C14n {
            exclusive: false,
            v11: false,
            with_comments: false,
            inclusive_prefixes: Vec::new(),
        }
    }
}

impl Document {
    /// The canonical form of the whole document.
    pub fn canonicalize_document(&self, alg: &C14n) -> Result<Vec<u8>, XmlError> {
        let mut out = Vec::new();
        for &n in &self.before {
            if self.misc(n, alg, &mut out) {
                out.push(b'\n');
            }
        }
        self.canonicalize_into(self.root, alg, None, &mut out)?;
        for &n in &self.after {
            let mut tmp = Vec::new();
            if self.misc(n, alg, &mut tmp) {
                out.push(b'\n');
                out.extend(tmp);
            }
        }
        Ok(out)
    }

    /// The canonical form of element `id` and its descendants (a same-document reference,
    /// `#id`, which removes comments whatever `alg` says, XML-DSig §4.4.3.3). `exclude` leaves
    /// out one descendant element (the enveloped-signature transform).
    pub fn canonicalize(
        &self,
        id: NodeId,
        alg: &C14n,
        exclude: Option<NodeId>,
    ) -> Result<Vec<u8>, XmlError> {
        let mut out = Vec::new();
        self.canonicalize_into(id, alg, exclude, &mut out)?;
        Ok(out)
    }

    fn canonicalize_into(
        &self,
        id: NodeId,
        alg: &C14n,
        exclude: Option<NodeId>,
        out: &mut Vec<u8>,
    ) -> Result<(), XmlError> {
        let e = self
            .element(id)
            .ok_or_else(|| XmlError::Malformed("not an element".into()))?;
        // What the output parent has in effect: nothing at the apex, except that inclusive
        // C14N renders every namespace in scope there (and 1.0 the inherited xml: attributes).
        let mut inherited_xml = Vec::new();
        if !alg.exclusive {
            let mut cur = e.parent;
            while let Some(p) = cur {
                let pe = self.element(p).expect("parents are elements");
                for (k, v) in &pe.attrs {
                    if let Some(local) = k.strip_prefix("xml:") {
                        let inherit = match local {
                            "lang" | "space" => true,
                            "base" if alg.v11 => {
                                return Err(XmlError::Unsupported(
                                    "xml:base fix-up of C14N 1.1".into(),
                                ))
                            }
                            // C14N 1.0 inherits every xml: attribute, 1.1 only lang and space.
                            _ => !alg.v11,
                        };
                        // The nearest ancestor's value wins.
                        if inherit && !inherited_xml.iter().any(|(n, _): &(String, String)| n == k)
                        {
                            inherited_xml.push((k.clone(), v.clone()));
                        }
                    }
                }
                cur = pe.parent;
            }
        }
        // The element's own value wins over an inherited one.
        inherited_xml.retain(|(k, _)| e.attr(k).is_none());
        let ctx = BTreeMap::new();
        self.render(id, alg, exclude, &ctx, &inherited_xml, out)
    }

    fn misc(&self, id: NodeId, alg: &C14n, out: &mut Vec<u8>) -> bool {
        match &self.nodes[id] {
            Node::Comment(c) if alg.with_comments => {
                out.extend_from_slice(b"<!--");
                out.extend_from_slice(c.as_bytes());
                out.extend_from_slice(b"-->");
                true
            }
            Node::Pi(t, d) => {
                out.extend_from_slice(b"<?");
                out.extend_from_slice(t.as_bytes());
                if !d.is_empty() {
                    out.push(b' ');
                    out.extend_from_slice(d.as_bytes());
                }
                out.extend_from_slice(b"?>");
                true
            }
            _ => false,
        }
    }

    /// Renders element `id`; `rendered` holds the namespace declarations in effect in the
    /// output so far (prefix → URI).
    fn render(
        &self,
        id: NodeId,
        alg: &C14n,
        exclude: Option<NodeId>,
        rendered: &BTreeMap<String, String>,
        extra_attrs: &[(String, String)],
        out: &mut Vec<u8>,
    ) -> Result<(), XmlError> {
        let e = self.element(id).expect("render is called on elements");
        let scope = self.scope(id);
        let (eprefix, _) = split_qname(&e.qname);
        // Namespace declarations to write on this element.
        let mut decls: BTreeMap<String, String> = BTreeMap::new();
        let wanted: Vec<String> = if alg.exclusive {
            // Visibly utilised prefixes, plus the InclusiveNamespaces PrefixList.
            let mut w = vec![eprefix.to_owned()];
            for (k, _) in &e.attrs {
                let (p, _) = split_qname(k);
                if !p.is_empty() && p != "xmlns" && p != "xml" {
                    w.push(p.to_owned());
                }
            }
            for p in &alg.inclusive_prefixes {
                let p = if p == "#default" { "" } else { p.as_str() };
                if p.is_empty() || scope.contains_key(p) {
                    w.push(p.to_owned());
                }
            }
            w
        } else {
            scope.keys().cloned().collect()
        };
        for p in wanted {
            let uri = scope.get(&p).cloned().unwrap_or_default();
            let prior = rendered.get(&p);
            let needed = if p.is_empty() && uri.is_empty() {
                // xmlns="" only undoes a default the output has in effect.
                prior.is_some_and(|u| !u.is_empty())
            } else {
                prior != Some(&uri)
            };
            if needed {
                decls.insert(p, uri);
            }
        }
        // Ordinary attributes, sorted by namespace URI then local name (C14N §2.2).
        let mut attrs: Vec<(String, String, &str, &str)> = Vec::new();
        for (k, v) in e.attrs.iter().chain(extra_attrs.iter()) {
            if k == "xmlns" || k.starts_with("xmlns:") {
                continue;
            }
            let (p, local) = split_qname(k);
            let ns = if p.is_empty() {
                String::new()
            } else if p == "xml" {
                XML_NS.to_owned()
            } else {
                scope.get(p).cloned().unwrap_or_default()
            };
            if attrs.iter().any(|(_, _, q, _)| *q == k.as_str()) {
                continue;
            }
            attrs.push((ns, local.to_owned(), k.as_str(), v.as_str()));
        }
        attrs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));

        out.push(b'<');
        out.extend_from_slice(e.qname.as_bytes());
        for (p, uri) in &decls {
            if p.is_empty() {
                out.extend_from_slice(b" xmlns=\"");
            } else {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"=\"");
            }
            escape(uri, out, true);
            out.push(b'"');
        }
        for (_, _, q, v) in &attrs {
            out.push(b' ');
            out.extend_from_slice(q.as_bytes());
            out.extend_from_slice(b"=\"");
            escape(v, out, true);
            out.push(b'"');
        }
        out.push(b'>');
        let mut ctx = rendered.clone();
        ctx.extend(decls);
        for &c in &e.children {
            if Some(c) == exclude {
                continue;
            }
            match &self.nodes[c] {
                Node::Element(_) => self.render(c, alg, exclude, &ctx, &[], out)?,
                Node::Text(t) => escape(t, out, false),
                _ => {
                    self.misc(c, alg, out);
                }
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(e.qname.as_bytes());
        out.push(b'>');
        Ok(())
    }
}

/// Canonical XML 1.0 §2.3's escaping: in text `&`, `<`, `>` and CR; in attribute values `&`,
/// `<`, `"`, TAB, LF and CR.
fn escape(s: &str, out: &mut Vec<u8>, in_attribute: bool) {
    for b in s.bytes() {
        let entity: &[u8] = match (b, in_attribute) {
            (b'&', _) => b"&amp;",
            (b'<', _) => b"&lt;",
            (b'>', false) => b"&gt;",
            (b'"', true) => b"&quot;",
            (b'\t', true) => b"&#x9;",
            (b'\n', true) => b"&#xA;",
            (b'\r', _) => b"&#xD;",
            _ => {
                out.push(b);
                continue;
            }
        };
        out.extend_from_slice(entity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, uri: &str) -> String {
        let d = Document::parse(xml.as_bytes(), &Limits::default()).unwrap();
        let alg = C14n::from_uri(uri).unwrap();
        String::from_utf8(d.canonicalize_document(&alg).unwrap()).unwrap()
    }

    const INC: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

    #[test]
    fn w3c_c14n_example_3_2_start_and_end_tags() {
        // C14N 1.0 §3.3 (without the DTD-defaulted attributes, which we refuse to have).
        let input = "<doc>\n   <e1   />\n   <e2   ></e2>\n   <e3   name = \"elem3\"   id=\"elem3\"   />\n   <e5 a:attr=\"out\" b:attr=\"sorted\" attr2=\"all\" attr=\"I'm\"\n      xmlns:b=\"http://www.ietf.org\"\n      xmlns:a=\"http://www.w3.org\"\n      xmlns=\"http://example.org\"/>\n   <e6 xmlns=\"\" xmlns:a=\"http://www.w3.org\">\n      <e7 xmlns=\"http://www.ietf.org\">\n         <e8 xmlns=\"\" xmlns:a=\"http://www.w3.org\">\n            <e9 xmlns=\"\" xmlns:a=\"http://www.ietf.org\"/>\n         </e8>\n      </e7>\n   </e6>\n</doc>";
        let want = "<doc>\n   <e1></e1>\n   <e2></e2>\n   <e3 id=\"elem3\" name=\"elem3\"></e3>\n   <e5 xmlns=\"http://example.org\" xmlns:a=\"http://www.w3.org\" xmlns:b=\"http://www.ietf.org\" attr=\"I'm\" attr2=\"all\" b:attr=\"sorted\" a:attr=\"out\"></e5>\n   <e6 xmlns:a=\"http://www.w3.org\">\n      <e7 xmlns=\"http://www.ietf.org\">\n         <e8 xmlns=\"\">\n            <e9 xmlns:a=\"http://www.ietf.org\"></e9>\n         </e8>\n      </e7>\n   </e6>\n</doc>";
        assert_eq!(c14n(input, INC), want);
    }

    #[test]
    fn w3c_c14n_example_3_4_character_modifications() {
        let input = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n</doc>";
        let want = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
        assert_eq!(c14n(input, INC), want);
    }

    #[test]
    fn comments_and_pis_outside_the_root() {
        let input = "<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!<!-- Comment 1 --></doc>\n<?pi-without-data     ?>\n<!-- Comment 2 -->";
        assert_eq!(
            c14n(input, INC),
            "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>"
        );
        assert_eq!(
            c14n(input, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"),
            "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!<!-- Comment 1 --></doc>\n<?pi-without-data?>\n<!-- Comment 2 -->"
        );
    }

    #[test]
    fn subtree_inclusive_and_exclusive_namespaces() {
        let xml = "<n0:local xmlns:n0=\"foo:bar\" xmlns:n3=\"ftp://example.org\" xml:lang=\"az\"><n1:elem2 xmlns:n1=\"http://example.net\"><n3:stuff xmlns:n3=\"ftp://example.org\"/></n1:elem2></n0:local>";
        let d = Document::parse(xml.as_bytes(), &Limits::default()).unwrap();
        let elem2 = d.descendants(d.root())[1];
        let inc = C14n::from_uri(INC).unwrap();
        assert_eq!(
            String::from_utf8(d.canonicalize(elem2, &inc, None).unwrap()).unwrap(),
            "<n1:elem2 xmlns:n0=\"foo:bar\" xmlns:n1=\"http://example.net\" xmlns:n3=\"ftp://example.org\" xml:lang=\"az\"><n3:stuff></n3:stuff></n1:elem2>"
        );
        let exc = C14n::from_uri(EXC).unwrap();
        assert_eq!(
            String::from_utf8(d.canonicalize(elem2, &exc, None).unwrap()).unwrap(),
            "<n1:elem2 xmlns:n1=\"http://example.net\"><n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff></n1:elem2>"
        );
        let mut exc_inc = exc.clone();
        exc_inc.inclusive_prefixes = vec!["n0".into()];
        assert_eq!(
            String::from_utf8(d.canonicalize(elem2, &exc_inc, None).unwrap()).unwrap(),
            "<n1:elem2 xmlns:n0=\"foo:bar\" xmlns:n1=\"http://example.net\"><n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff></n1:elem2>"
        );
    }

    #[test]
    fn doctype_entities_and_bounds_are_refused() {
        let lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
        assert_eq!(
            Document::parse(lol.as_bytes(), &Limits::default()),
            Err(XmlError::Doctype)
        );
        let xxe = "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>";
        assert_eq!(
            Document::parse(xxe.as_bytes(), &Limits::default()),
            Err(XmlError::Doctype)
        );
        assert!(Document::parse(b"<a>&undefined;</a>", &Limits::default()).is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(
            Document::parse(deep.as_bytes(), &Limits::default()),
            Err(XmlError::TooLarge("depth"))
        );
        let many = format!("<a>{}</a>", "<b/>".repeat(300));
        let small = Limits {
            max_nodes: 100,
            ..Limits::default()
        };
        assert_eq!(
            Document::parse(many.as_bytes(), &small),
            Err(XmlError::TooLarge("nodes"))
        );
        assert!(matches!(
            Document::parse(b"<p:a/>", &Limits::default()),
            Err(XmlError::UndeclaredPrefix(_))
        ));
        assert!(Document::parse(b"<a x=\"1\" x=\"2\"/>", &Limits::default()).is_err());
        assert!(Document::parse(b"<a></b>", &Limits::default()).is_err());
        assert!(Document::parse(b"<a/><b/>", &Limits::default()).is_err());
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let d = Document::parse(b"<a><b Id=\"x\"/><c Id=\"x\"/></a>", &Limits::default()).unwrap();
        assert!(matches!(d.by_id("x"), Err(XmlError::DuplicateId(_))));
        let d = Document::parse(b"<a><b Id=\"x\"/><c Id=\"y\"/></a>", &Limits::default()).unwrap();
        assert_eq!(d.by_id("y").unwrap(), Some(2));
    }
}
