//! The strict structural pass that runs before anything reaches libxml2/libxmlsec.
//!
//! It reads the document once with quick-xml's namespace-aware reader and refuses
//! everything a SAML bearer assertion does not need but an attacker can use:
//! DOCTYPE (XXE, entity expansion), processing instructions, comments (the
//! comment-split NameID attack), CDATA, non-predefined entity references, several
//! roots, deep nesting; then it checks the signature's shape so that libxmlsec is
//! only ever asked to verify one enveloped exc-c14n signature over the root element:
//! no remote or `file:` reference URIs, no XPath/XSLT transforms, no RetrievalMethod.

use quick_xml::NsReader;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::SamlError;

pub(crate) const SAML_ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &[u8] = b"http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &[u8] = b"http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &[u8] = b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &[u8] = b"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const SHA256: &[u8] = b"http://www.w3.org/2001/04/xmlenc#sha256";

/// Deepest element nesting accepted (a SAML assertion needs about eight levels).
const MAX_DEPTH: usize = 32;

/// Where an element sits, as far as the shape check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The root `saml:Assertion`.
    Root,
    /// Ordinary SAML content (anything under the root that is not the signature).
    Content,
    Signature,
    SignedInfo,
    CanonicalizationMethod,
    SignatureMethod,
    Reference,
    Transforms,
    /// A transform; `true` when it is exc-c14n (which may carry InclusiveNamespaces).
    Transform(bool),
    DigestMethod,
    /// DigestValue, SignatureValue: base64 text only.
    Value,
    KeyInfo,
    /// X509Data / KeyName / KeyValue content: never used for key selection
    /// (the key is the configured certificate), so it is not inspected further.
    KeyMaterial,
    /// `ec:InclusiveNamespaces`.
    InclusiveNamespaces,
}

struct Frame {
    kind: Kind,
    /// Position of the last child seen, for ordered sequences (0 = none yet).
    last: u8,
    /// Positions seen, as bits (`1 << pos`).
    seen: u8,
    /// Count of children of interest (Reference in SignedInfo, Transform in Transforms).
    count: u8,
}

/// What the shape check learnt about the document.
pub(crate) struct Shape {
    /// The root assertion's `ID`.
    pub(crate) root_id: String,
}

pub(crate) fn check(xml: &[u8]) -> Result<Shape, SamlError> {
    let text = std::str::from_utf8(xml).map_err(|_| SamlError::NotUtf8)?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().expand_empty_elements = false;
    reader.config_mut().check_end_names = true;

    let mut stack: Vec<Frame> = Vec::new();
    let mut root_id: Option<String> = None;
    let mut root_done = false;
    let mut first_event = true;
    let mut signatures = 0usize;
    let mut ids: Vec<String> = Vec::new();

    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| SamlError::Malformed)?;
        let ns: Option<Vec<u8>> = match ns {
            ResolveResult::Bound(n) => Some(n.0.to_vec()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(_) => return Err(SamlError::Malformed),
        };
        let was_first = first_event;
        first_event = false;
        match event {
            Event::Decl(decl) => {
                if !was_first {
                    return Err(SamlError::Malformed);
                }
                let version = decl.version().map_err(|_| SamlError::Malformed)?;
                if version.as_ref() != b"1.0" {
                    return Err(SamlError::Malformed);
                }
                if let Some(enc) = decl.encoding() {
                    let enc = enc.map_err(|_| SamlError::Malformed)?;
                    if !enc.as_ref().eq_ignore_ascii_case(b"utf-8") {
                        return Err(SamlError::NotUtf8);
                    }
                }
            }
            Event::DocType(_) => return Err(SamlError::DocType),
            Event::PI(_) => return Err(SamlError::ProcessingInstruction),
            Event::Comment(_) => return Err(SamlError::Comment),
            Event::CData(_) => return Err(SamlError::CData),
            Event::GeneralRef(r) => {
                let ok = if r.is_char_ref() {
                    matches!(r.resolve_char_ref(), Ok(Some(c)) if is_xml_char(c))
                } else {
                    matches!(r.as_ref(), b"lt" | b"gt" | b"amp" | b"apos" | b"quot")
                };
                if !ok {
                    return Err(SamlError::EntityReference);
                }
                text_allowed(&stack, false)?;
            }
            Event::Text(t) => {
                let blank = t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
                if stack.is_empty() {
                    if !blank {
                        return Err(SamlError::Malformed);
                    }
                } else {
                    text_allowed(&stack, blank)?;
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if root_done {
                    return Err(SamlError::MultipleRoots);
                }
                check_attributes(e, &mut ids)?;
                let kind = match stack.last_mut() {
                    None => {
                        if ns.as_deref() != Some(SAML_ASSERTION_NS)
                            || e.local_name().as_ref() != b"Assertion"
                        {
                            return Err(SamlError::NotAnAssertion);
                        }
                        let id = attr(e, b"ID")?.ok_or(SamlError::MissingId)?;
                        if id.is_empty() {
                            return Err(SamlError::MissingId);
                        }
                        root_id = Some(id);
                        Kind::Root
                    }
                    Some(parent) => {
                        let local = e.local_name();
                        let is_dsig = ns.as_deref() == Some(DSIG_NS);
                        if is_dsig && local.as_ref() == b"Signature" {
                            signatures += 1;
                            if signatures > 1 {
                                return Err(SamlError::SignatureShape(
                                    "only one Signature element is allowed",
                                ));
                            }
                            if parent.kind != Kind::Root {
                                return Err(SamlError::SignatureShape(
                                    "the Signature must be a direct child of the root Assertion",
                                ));
                            }
                        }
                        let root = root_id.as_deref().unwrap_or_default();
                        child_kind(parent, ns.as_deref(), local.as_ref(), e, root)?
                    }
                };
                if empty {
                    end_of(kind, 0, 0)?;
                    if stack.is_empty() {
                        root_done = true;
                    }
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(SamlError::TooDeep);
                    }
                    stack.push(Frame {
                        kind,
                        last: 0,
                        seen: 0,
                        count: 0,
                    });
                }
            }
            Event::End(_) => {
                let frame = stack.pop().ok_or(SamlError::Malformed)?;
                end_of(frame.kind, frame.seen, frame.count)?;
                if stack.is_empty() {
                    root_done = true;
                }
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() || !root_done {
        return Err(SamlError::Malformed);
    }
    let root_id = root_id.ok_or(SamlError::MissingId)?;
    if signatures == 0 {
        return Err(SamlError::Unsigned);
    }
    if ids.iter().filter(|id| **id == root_id).count() > 1 {
        return Err(SamlError::DuplicateId);
    }
    Ok(Shape { root_id })
}

/// XML 1.0 `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Non-blank text is allowed in SAML content and in the base64 values of the signature.
fn text_allowed(stack: &[Frame], blank: bool) -> Result<(), SamlError> {
    if blank {
        return Ok(());
    }
    match stack.last().map(|f| f.kind) {
        Some(Kind::Root | Kind::Content | Kind::Value | Kind::KeyMaterial) => Ok(()),
        _ => Err(SamlError::SignatureShape(
            "unexpected text inside the Signature",
        )),
    }
}

/// Every attribute must be well-formed with only predefined entities; `xml:id` is
/// refused, and every ID-like attribute value is collected (the root's ID must be unique).
fn check_attributes(e: &BytesStart<'_>, ids: &mut Vec<String>) -> Result<(), SamlError> {
    for a in e.attributes() {
        let a: Attribute<'_> = a.map_err(|_| SamlError::Malformed)?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
            .map_err(|_| SamlError::EntityReference)?;
        let key = a.key;
        if key.prefix().is_some_and(|p| p.as_ref() == b"xml") && key.local_name().as_ref() == b"id"
        {
            return Err(SamlError::SignatureShape(
                "xml:id attributes are not allowed",
            ));
        }
        if key.local_name().as_ref().eq_ignore_ascii_case(b"id") {
            ids.push(value.into_owned());
        }
    }
    Ok(())
}

/// The value of the unqualified attribute `name`, if present.
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, SamlError> {
    for a in e.attributes() {
        let a = a.map_err(|_| SamlError::Malformed)?;
        if a.key.prefix().is_none() && a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                .map_err(|_| SamlError::EntityReference)?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn algorithm(e: &BytesStart<'_>) -> Result<String, SamlError> {
    attr(e, b"Algorithm")?.ok_or(SamlError::SignatureShape(
        "an Algorithm attribute is missing",
    ))
}

/// Enforces an ordered sequence of children: `pos` must be greater than the last seen.
fn in_order(parent: &mut Frame, pos: u8) -> Result<(), SamlError> {
    if pos <= parent.last {
        return Err(SamlError::SignatureShape(
            "the Signature's elements are repeated or out of order",
        ));
    }
    parent.last = pos;
    parent.seen |= 1 << pos;
    Ok(())
}

fn child_kind(
    parent: &mut Frame,
    ns: Option<&[u8]>,
    local: &[u8],
    e: &BytesStart<'_>,
    root_id: &str,
) -> Result<Kind, SamlError> {
    let dsig = ns == Some(DSIG_NS);
    let unexpected = SamlError::SignatureShape("the Signature contains an unexpected element");
    match parent.kind {
        Kind::Root | Kind::Content => {
            if dsig && local == b"Signature" {
                Ok(Kind::Signature)
            } else {
                Ok(Kind::Content)
            }
        }
        Kind::KeyMaterial => {
            if dsig && local == b"RetrievalMethod" {
                return Err(unexpected);
            }
            Ok(Kind::KeyMaterial)
        }
        Kind::Signature => match (dsig, local) {
            (true, b"SignedInfo") => in_order(parent, 1).map(|()| Kind::SignedInfo),
            (true, b"SignatureValue") => in_order(parent, 2).map(|()| Kind::Value),
            (true, b"KeyInfo") => in_order(parent, 3).map(|()| Kind::KeyInfo),
            _ => Err(unexpected),
        },
        Kind::SignedInfo => match (dsig, local) {
            (true, b"CanonicalizationMethod") => {
                in_order(parent, 1)?;
                if algorithm(e)?.as_bytes() != EXC_C14N {
                    return Err(SamlError::SignatureShape(
                        "the CanonicalizationMethod must be exclusive XML canonicalization (without comments)",
                    ));
                }
                Ok(Kind::CanonicalizationMethod)
            }
            (true, b"SignatureMethod") => {
                in_order(parent, 2)?;
                let alg = algorithm(e)?;
                if alg.as_bytes() != RSA_SHA256 && alg.as_bytes() != ECDSA_SHA256 {
                    return Err(SamlError::WeakAlgorithm);
                }
                Ok(Kind::SignatureMethod)
            }
            (true, b"Reference") => {
                in_order(parent, 3)?;
                parent.count = parent.count.saturating_add(1);
                let uri = attr(e, b"URI")?;
                let ok = uri
                    .as_deref()
                    .and_then(|u| u.strip_prefix('#'))
                    .is_some_and(|u| u == root_id);
                if !ok {
                    return Err(SamlError::SignatureShape(
                        "the signature's Reference must point at the root Assertion's ID",
                    ));
                }
                Ok(Kind::Reference)
            }
            _ => Err(unexpected),
        },
        Kind::Reference => match (dsig, local) {
            (true, b"Transforms") => in_order(parent, 1).map(|()| Kind::Transforms),
            (true, b"DigestMethod") => {
                in_order(parent, 2)?;
                if algorithm(e)?.as_bytes() != SHA256 {
                    return Err(SamlError::WeakAlgorithm);
                }
                Ok(Kind::DigestMethod)
            }
            (true, b"DigestValue") => in_order(parent, 3).map(|()| Kind::Value),
            _ => Err(unexpected),
        },
        Kind::Transforms => match (dsig, local) {
            (true, b"Transform") => {
                parent.count = parent.count.saturating_add(1);
                if parent.count > 2 {
                    return Err(SamlError::SignatureShape("too many Transforms"));
                }
                // Exactly [enveloped-signature, exc-c14n], in that order: the one
                // pipeline whose output is what the reader re-renders.
                let alg = algorithm(e)?;
                let (pos, kind) = match alg.as_bytes() {
                    ENVELOPED => (1, Kind::Transform(false)),
                    EXC_C14N => (2, Kind::Transform(true)),
                    _ => {
                        return Err(SamlError::SignatureShape(
                            "only the enveloped-signature and exclusive canonicalization transforms are allowed",
                        ));
                    }
                };
                if pos <= parent.last {
                    return Err(SamlError::SignatureShape(
                        "the transforms must be enveloped-signature, then exclusive canonicalization",
                    ));
                }
                parent.last = pos;
                parent.seen |= 1 << pos;
                Ok(kind)
            }
            _ => Err(unexpected),
        },
        Kind::CanonicalizationMethod | Kind::Transform(true) => {
            if ns == Some(EXC_C14N) && local == b"InclusiveNamespaces" {
                in_order(parent, 1).map(|()| Kind::InclusiveNamespaces)
            } else {
                Err(unexpected)
            }
        }
        Kind::KeyInfo => match (dsig, local) {
            (true, b"X509Data" | b"KeyName" | b"KeyValue") => Ok(Kind::KeyMaterial),
            _ => Err(unexpected),
        },
        Kind::Transform(false)
        | Kind::SignatureMethod
        | Kind::DigestMethod
        | Kind::Value
        | Kind::InclusiveNamespaces => Err(unexpected),
    }
}

/// Required children, checked when an element closes (`seen` holds `1 << pos` bits).
fn end_of(kind: Kind, seen: u8, count: u8) -> Result<(), SamlError> {
    let has = |pos: u8| seen & (1 << pos) != 0;
    let ok = match kind {
        Kind::Signature => has(1) && has(2),
        Kind::SignedInfo => has(1) && has(2) && has(3) && count == 1,
        Kind::Reference => has(2) && has(3),
        Kind::Transforms => seen & 0b110 == 0b110,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(SamlError::SignatureShape(
            "the Signature is missing a required element",
        ))
    }
}
