//! Reads a SAML 2.0 `Assertion` out of the *signed bytes* (the exclusive canonical form
//! of the root assertion without its signature, exactly what the digest covered).
//!
//! Only the parts RFC 7522 §3 needs are kept: ID, Version, IssueInstant, Issuer,
//! Subject (NameID and SubjectConfirmations), Conditions (validity window and
//! AudienceRestrictions) and the AttributeStatements. The reader is strict about the
//! elements it uses (SAML core §2: at most one Issuer, Subject and Conditions, in the
//! schema's order; a NameID holds text only), so an assertion cannot say two things at
//! once; everything else (Advice, AuthnStatement, extension elements) is skipped.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::SamlError;
use crate::shape::SAML_ASSERTION_NS;
use crate::time::parse_xs_date_time;

/// A parsed assertion, before the RFC 7522 rules are applied.
#[derive(Debug, Default)]
pub(crate) struct Assertion {
    pub(crate) id: String,
    pub(crate) version: String,
    /// Unix seconds.
    pub(crate) issue_instant: i64,
    pub(crate) issuer: Option<String>,
    pub(crate) subject: Option<Subject>,
    pub(crate) conditions: Option<Conditions>,
    /// (Name, values) in document order.
    pub(crate) attributes: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Default)]
pub(crate) struct Subject {
    pub(crate) name_id: Option<NameId>,
    pub(crate) confirmations: Vec<Confirmation>,
}

#[derive(Debug)]
pub(crate) struct NameId {
    pub(crate) value: String,
    pub(crate) format: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Confirmation {
    pub(crate) method: Option<String>,
    pub(crate) data: Option<ConfirmationData>,
}

#[derive(Debug, Default)]
pub(crate) struct ConfirmationData {
    pub(crate) recipient: Option<String>,
    pub(crate) not_before: Option<i64>,
    pub(crate) not_on_or_after: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct Conditions {
    pub(crate) not_before: Option<i64>,
    pub(crate) not_on_or_after: Option<i64>,
    /// One entry per AudienceRestriction, holding its Audience values.
    pub(crate) audience_restrictions: Vec<Vec<String>>,
}

/// A small element tree: the signed bytes are bounded by the policy's size limit and
/// the shape pass's depth limit, so building it is cheap and keeps the reader simple.
#[derive(Debug, Default)]
struct Node {
    /// True when the element is in the SAML 2.0 assertion namespace.
    saml: bool,
    local: String,
    /// Unqualified attributes (SAML's own attributes are all unqualified).
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    /// The element's own text (entity references resolved), children's text excluded.
    text: String,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn is(&self, local: &str) -> bool {
        self.saml && self.local == local
    }

    fn time_attr(&self, name: &str) -> Result<Option<i64>, SamlError> {
        self.attr(name)
            .map(|v| parse_xs_date_time(v).ok_or(SamlError::Schema))
            .transpose()
    }
}

pub(crate) fn parse(signed: &[u8]) -> Result<Assertion, SamlError> {
    let root = build_tree(signed)?;
    if !root.is("Assertion") {
        return Err(SamlError::Schema);
    }
    let required = |name| root.attr(name).map(str::to_owned).ok_or(SamlError::Schema);
    let mut assertion = Assertion {
        id: required("ID")?,
        version: required("Version")?,
        issue_instant: parse_xs_date_time(&required("IssueInstant")?).ok_or(SamlError::Schema)?,
        ..Assertion::default()
    };

    // SAML core §2.3.3: Issuer, Signature?, Subject?, Conditions?, Advice?, statements*.
    // Each part may appear once (statements any number of times) and in that order; a
    // repeated or misplaced one is refused.
    let mut position = 0u8;
    for child in &root.children {
        let (pos, repeatable) = match (child.saml, child.local.as_str()) {
            (true, "Issuer") => (1, false),
            (true, "Subject") => (2, false),
            (true, "Conditions") => (3, false),
            (true, "Advice") => (4, false),
            (
                true,
                "AttributeStatement" | "AuthnStatement" | "AuthzDecisionStatement" | "Statement",
            ) => (5, true),
            _ => return Err(SamlError::Schema),
        };
        if pos < position || (pos == position && !repeatable) {
            return Err(SamlError::Schema);
        }
        position = pos;
        match child.local.as_str() {
            "Issuer" => {
                if !child.children.is_empty() {
                    return Err(SamlError::Schema);
                }
                assertion.issuer = Some(child.text.clone());
            }
            "Subject" => assertion.subject = Some(subject(child)?),
            "Conditions" => assertion.conditions = Some(conditions(child)?),
            "AttributeStatement" => assertion.attributes.extend(attribute_statement(child)?),
            _ => {}
        }
    }
    Ok(assertion)
}

fn subject(node: &Node) -> Result<Subject, SamlError> {
    let mut subject = Subject::default();
    for child in &node.children {
        if child.is("NameID") {
            if subject.name_id.is_some() || !subject.confirmations.is_empty() {
                return Err(SamlError::Schema);
            }
            subject.name_id = Some(name_id(child)?);
        } else if child.is("SubjectConfirmation") {
            subject.confirmations.push(confirmation(child)?);
        } else if child.is("BaseID") || child.is("EncryptedID") {
            // Not a NameID: RFC 7522 needs one, and MissingSubject says so below.
            if !subject.confirmations.is_empty() {
                return Err(SamlError::Schema);
            }
        } else {
            return Err(SamlError::Schema);
        }
    }
    Ok(subject)
}

fn name_id(node: &Node) -> Result<NameId, SamlError> {
    if !node.children.is_empty() {
        return Err(SamlError::Schema);
    }
    Ok(NameId {
        value: node.text.clone(),
        format: node.attr("Format").map(str::to_owned),
    })
}

fn confirmation(node: &Node) -> Result<Confirmation, SamlError> {
    let mut c = Confirmation {
        method: node.attr("Method").map(str::to_owned),
        data: None,
    };
    for child in &node.children {
        if child.is("SubjectConfirmationData") {
            if c.data.is_some() {
                return Err(SamlError::Schema);
            }
            c.data = Some(ConfirmationData {
                recipient: child.attr("Recipient").map(str::to_owned),
                not_before: child.time_attr("NotBefore")?,
                not_on_or_after: child.time_attr("NotOnOrAfter")?,
            });
        } else if child.is("NameID") || child.is("BaseID") || child.is("EncryptedID") {
            if c.data.is_some() {
                return Err(SamlError::Schema);
            }
        } else {
            return Err(SamlError::Schema);
        }
    }
    Ok(c)
}

fn conditions(node: &Node) -> Result<Conditions, SamlError> {
    let mut c = Conditions {
        not_before: node.time_attr("NotBefore")?,
        not_on_or_after: node.time_attr("NotOnOrAfter")?,
        audience_restrictions: Vec::new(),
    };
    for child in &node.children {
        if child.is("AudienceRestriction") {
            let mut audiences = Vec::new();
            for a in &child.children {
                if !a.is("Audience") || !a.children.is_empty() {
                    return Err(SamlError::Schema);
                }
                audiences.push(a.text.clone());
            }
            if audiences.is_empty() {
                return Err(SamlError::Schema);
            }
            c.audience_restrictions.push(audiences);
        } else if !(child.is("OneTimeUse") || child.is("ProxyRestriction") || child.is("Condition"))
        {
            return Err(SamlError::Schema);
        }
    }
    Ok(c)
}

fn attribute_statement(node: &Node) -> Result<Vec<(String, Vec<String>)>, SamlError> {
    let mut out = Vec::new();
    for child in &node.children {
        if child.is("EncryptedAttribute") {
            continue;
        }
        if !child.is("Attribute") {
            return Err(SamlError::Schema);
        }
        let name = child.attr("Name").ok_or(SamlError::Schema)?.to_owned();
        let mut values = Vec::new();
        for v in &child.children {
            if !v.is("AttributeValue") {
                return Err(SamlError::Schema);
            }
            values.push(v.text.clone());
        }
        out.push((name, values));
    }
    Ok(out)
}

/// Parses the canonical bytes into a [`Node`] tree (one root element).
fn build_tree(xml: &[u8]) -> Result<Node, SamlError> {
    let text = std::str::from_utf8(xml).map_err(|_| SamlError::NotUtf8)?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| SamlError::Schema)?;
        match event {
            Event::Start(ref e) => {
                if root.is_some() {
                    return Err(SamlError::Schema);
                }
                let saml = matches!(ns, ResolveResult::Bound(n) if n.0 == SAML_ASSERTION_NS);
                stack.push(node(e, saml)?);
            }
            Event::End(_) => {
                let done = stack.pop().ok_or(SamlError::Schema)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|_| SamlError::Schema)?;
                match stack.last_mut() {
                    Some(n) => n.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(SamlError::Schema),
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    match r.as_ref() {
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"amp" => Some('&'),
                        b"apos" => Some('\''),
                        b"quot" => Some('"'),
                        _ => None,
                    }
                };
                let (Some(c), Some(n)) = (c, stack.last_mut()) else {
                    return Err(SamlError::Schema);
                };
                n.text.push(c);
            }
            Event::Eof => break,
            // Canonical XML has no declaration, comments, PIs, CDATA or DOCTYPE.
            _ => return Err(SamlError::Schema),
        }
    }
    if !stack.is_empty() {
        return Err(SamlError::Schema);
    }
    root.ok_or(SamlError::Schema)
}

fn node(e: &BytesStart<'_>, saml: bool) -> Result<Node, SamlError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| SamlError::Schema)?;
        if a.key.prefix().is_some() || a.key.as_ref() == b"xmlns" {
            continue;
        }
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|_| SamlError::Schema)?
            .to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
            .map_err(|_| SamlError::Schema)?
            .into_owned();
        attrs.push((key, value));
    }
    let local = std::str::from_utf8(e.local_name().as_ref())
        .map_err(|_| SamlError::Schema)?
        .to_owned();
    Ok(Node {
        saml,
        local,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

    fn doc(body: &str) -> String {
        format!(
            r#"<saml:Assertion xmlns:saml="{NS}" ID="_a" IssueInstant="2026-01-02T03:04:05Z" Version="2.0">{body}</saml:Assertion>"#
        )
    }

    #[test]
    fn reads_the_parts_rfc_7522_needs() {
        let xml = doc(concat!(
            "<saml:Issuer>idp</saml:Issuer>",
            r#"<saml:Subject><saml:NameID Format="f">a&amp;b</saml:NameID>"#,
            r#"<saml:SubjectConfirmation Method="m"><saml:SubjectConfirmationData Recipient="r" NotOnOrAfter="2026-01-02T03:09:05.123Z"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="2026-01-02T03:04:00Z"><saml:AudienceRestriction><saml:Audience>x</saml:Audience><saml:Audience>y</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
            r#"<saml:AttributeStatement><saml:Attribute Name="role"><saml:AttributeValue>a</saml:AttributeValue><saml:AttributeValue>b</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#,
        ));
        let a = parse(xml.as_bytes()).unwrap();
        assert_eq!(a.id, "_a");
        assert_eq!(a.issue_instant, 1_767_323_045);
        assert_eq!(a.issuer.as_deref(), Some("idp"));
        let s = a.subject.unwrap();
        let n = s.name_id.unwrap();
        assert_eq!((n.value.as_str(), n.format.as_deref()), ("a&b", Some("f")));
        let d = s.confirmations[0].data.as_ref().unwrap();
        assert_eq!(d.recipient.as_deref(), Some("r"));
        assert_eq!(d.not_on_or_after, Some(1_767_323_345));
        let c = a.conditions.unwrap();
        assert_eq!(c.not_before, Some(1_767_323_040));
        assert_eq!(
            c.audience_restrictions,
            vec![vec!["x".to_owned(), "y".to_owned()]]
        );
        assert_eq!(
            a.attributes,
            vec![("role".to_owned(), vec!["a".to_owned(), "b".to_owned()])]
        );
    }

    #[test]
    fn repeated_or_misplaced_parts_are_refused() {
        for body in [
            "<saml:Issuer>a</saml:Issuer><saml:Issuer>b</saml:Issuer>",
            "<saml:Subject></saml:Subject><saml:Issuer>a</saml:Issuer>",
            "<saml:Issuer>a</saml:Issuer><saml:Subject></saml:Subject><saml:Subject></saml:Subject>",
            "<saml:Issuer>a</saml:Issuer><saml:Conditions></saml:Conditions><saml:Conditions></saml:Conditions>",
            "<saml:Issuer>a<x>b</x></saml:Issuer>",
            r#"<saml:Issuer>a</saml:Issuer><saml:Subject><saml:NameID>a<b xmlns="z">c</b></saml:NameID></saml:Subject>"#,
            r#"<saml:Issuer>a</saml:Issuer><saml:Subject><saml:NameID>a</saml:NameID><saml:NameID>b</saml:NameID></saml:Subject>"#,
            r#"<saml:Issuer>a</saml:Issuer><other xmlns="urn:x"></other>"#,
            r#"<saml:Issuer>a</saml:Issuer><saml:Conditions NotBefore="yesterday"></saml:Conditions>"#,
        ] {
            assert_eq!(
                parse(doc(body).as_bytes()).unwrap_err(),
                SamlError::Schema,
                "{body}"
            );
        }
    }

    #[test]
    fn missing_required_attributes_are_refused() {
        let xml =
            format!(r#"<saml:Assertion xmlns:saml="{NS}" ID="_a" Version="2.0"></saml:Assertion>"#);
        assert_eq!(parse(xml.as_bytes()).unwrap_err(), SamlError::Schema);
    }
}
