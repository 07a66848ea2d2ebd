//! Package relationship fields (`Depends`, `Pre-Depends`, `Breaks`,
//! `Conflicts`, `Replaces`, `Recommends`, `Provides`, `Build-Depends`, ...)
//! parsed into borrowed structures.
//!
//! Grammar (Debian Policy 7.1, 7.4, and the build-profile spec): a field is a
//! comma-separated list of entries; an entry is one or more alternatives
//! separated by `|`; an alternative is
//!
//! ```text
//! name[:archqual] [(op version)] [[arch ...]] [<profile ...>]...
//! ```
//!
//! with `op` one of `<<`, `<=`, `=`, `>=`, `>>` (and the obsolete `<`, `>`,
//! read as `<=`, `>=` like dpkg does). Whitespace, including newlines of
//! continuation lines, is allowed between all tokens. A trailing comma is
//! tolerated; empty entries elsewhere are errors. Version strings are kept as
//! text: their syntax and ordering belong to [`crate::deb::version`].

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// How many bytes of input are quoted in an error.
const ERROR_QUOTE_LEN: usize = 40;

/// A relationship error: what is wrong, at which byte of the field value, and
/// the text found there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {pos} near {fragment:?}: {kind}")]
pub struct RelationError {
    /// Byte offset in the parsed string.
    pub pos: usize,
    /// The input from `pos` on (up to the next `,`, at most a few dozen
    /// bytes).
    pub fragment: String,
    /// What is wrong.
    pub kind: RelationErrorKind,
}

/// The kinds of [`RelationError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationErrorKind {
    /// Nothing between two separators.
    #[error("empty relation between separators; remove the extra ',' or '|'")]
    EmptyRelation,
    /// A character that cannot start or continue a relation here.
    #[error(
        "unexpected character {0:?}; expected a package name, `(op version)`, `[archs]`, \
         `<profiles>`, ',' or '|'"
    )]
    UnexpectedCharacter(char),
    /// `name:` without an architecture.
    #[error("':' after a package name must be followed by an architecture name such as `any`")]
    MissingArchQualifier,
    /// `(` without a valid relational operator.
    #[error("expected a relational operator (<<, <=, =, >=, >>) after '('")]
    MissingOperator,
    /// `(op)` without a version.
    #[error("expected a version after the relational operator")]
    MissingVersion,
    /// `(op version` without `)`.
    #[error("version constraint is not closed with ')'")]
    UnterminatedVersion,
    /// `[` without `]`, or a bad architecture inside.
    #[error("architecture restriction must be `[arch ...]` with names like `amd64` or `!i386`")]
    BadArchList,
    /// `[]`.
    #[error("architecture restriction list is empty")]
    EmptyArchList,
    /// `[amd64 !i386]`.
    #[error("architecture restriction mixes negated and plain architectures; use all `!` or none")]
    MixedArchNegation,
    /// `<` without `>`, or a bad profile name inside.
    #[error(
        "build profile restriction must be `<name ...>` with names like `nocheck` or `!stage1`"
    )]
    BadProfileList,
    /// `<>`.
    #[error("build profile restriction is empty")]
    EmptyProfileList,
    /// An unknown relational operator (from [`RelOp::from_str`]).
    #[error("unknown relational operator; expected <<, <=, =, >=, >> (or obsolete < and >)")]
    UnknownOperator,
    /// `Provides: a | b`.
    #[error("alternatives ('|') are not allowed in Provides")]
    ProvidesAlternatives,
    /// `Provides: a (>= 1)`.
    #[error("Provides allows only exact `(= version)` constraints, not {0}")]
    ProvidesOperator(RelOp),
    /// `Provides: a [amd64]` or `Provides: a <!nocheck>`.
    #[error("architecture or build-profile restrictions are not allowed in Provides")]
    ProvidesRestriction,
}

/// A relational operator of a version constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelOp {
    /// `<<`: strictly earlier.
    Lt,
    /// `<=` (or obsolete `<`): earlier or equal.
    Le,
    /// `=`: exactly equal.
    Eq,
    /// `>=` (or obsolete `>`): later or equal.
    Ge,
    /// `>>`: strictly later.
    Gt,
}

impl RelOp {
    /// The canonical spelling (`<<`, `<=`, `=`, `>=`, `>>`).
    pub fn as_str(self) -> &'static str {
        match self {
            RelOp::Lt => "<<",
            RelOp::Le => "<=",
            RelOp::Eq => "=",
            RelOp::Ge => ">=",
            RelOp::Gt => ">>",
        }
    }

    /// Whether a candidate satisfies the constraint, given
    /// `ord = cmp(candidate_version, constraint_version)`.
    pub fn matches(self, ord: Ordering) -> bool {
        match self {
            RelOp::Lt => ord == Ordering::Less,
            RelOp::Le => ord != Ordering::Greater,
            RelOp::Eq => ord == Ordering::Equal,
            RelOp::Ge => ord != Ordering::Less,
            RelOp::Gt => ord == Ordering::Greater,
        }
    }

    /// Reads an operator at the start of `b`, returning it and its length.
    fn lex(b: &[u8]) -> Option<(RelOp, usize)> {
        Some(match b {
            [b'<', b'<', ..] => (RelOp::Lt, 2),
            [b'<', b'=', ..] => (RelOp::Le, 2),
            [b'<', ..] => (RelOp::Le, 1),
            [b'>', b'>', ..] => (RelOp::Gt, 2),
            [b'>', b'=', ..] => (RelOp::Ge, 2),
            [b'>', ..] => (RelOp::Ge, 1),
            [b'=', ..] => (RelOp::Eq, 1),
            _ => return None,
        })
    }
}

impl FromStr for RelOp {
    type Err = RelationError;

    /// Parses exactly one operator, accepting the obsolete `<` and `>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match RelOp::lex(s.as_bytes()) {
            Some((op, len)) if len == s.len() => Ok(op),
            _ => Err(RelationError {
                pos: 0,
                fragment: fragment(s, 0),
                kind: RelationErrorKind::UnknownOperator,
            }),
        }
    }
}

impl fmt::Display for RelOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One architecture of an `[arch ...]` restriction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArchRestriction<'a> {
    /// Written with a leading `!`.
    pub negated: bool,
    /// Architecture name or wildcard (`amd64`, `linux-any`, ...).
    pub arch: &'a str,
}

/// One term of a `<profile ...>` restriction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileTerm<'a> {
    /// Written with a leading `!`.
    pub negated: bool,
    /// Profile name (`nocheck`, `stage1`, `pkg.foo.bar`, ...).
    pub name: &'a str,
}

/// One alternative of a relationship entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Relation<'a> {
    /// Package name.
    pub name: &'a str,
    /// Architecture qualifier after `:` (`any`, `native`, `amd64`, ...).
    pub arch_qualifier: Option<&'a str>,
    /// Version constraint (operator normalised, version text as written).
    pub constraint: Option<(RelOp, &'a str)>,
    /// `[arch ...]` restriction, empty when absent.
    pub arch_restrictions: Vec<ArchRestriction<'a>>,
    /// Build profile restrictions: each inner list is one `<...>` group (its
    /// terms all must hold); the relation applies if any group holds. Empty
    /// when absent.
    pub profiles: Vec<Vec<ProfileTerm<'a>>>,
}

impl fmt::Display for Relation<'_> {
    /// Canonical spelling, e.g. `libc6:any (>= 2.36) [amd64] <!nocheck>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if let Some(q) = self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = self.constraint {
            write!(f, " ({op} {v})")?;
        }
        if !self.arch_restrictions.is_empty() {
            f.write_str(" [")?;
            for (i, a) in self.arch_restrictions.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let neg = if a.negated { "!" } else { "" };
                write!(f, "{sep}{neg}{}", a.arch)?;
            }
            f.write_str("]")?;
        }
        for group in &self.profiles {
            f.write_str(" <")?;
            for (i, t) in group.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let neg = if t.negated { "!" } else { "" };
                write!(f, "{sep}{neg}{}", t.name)?;
            }
            f.write_str(">")?;
        }
        Ok(())
    }
}

/// One relationship entry: alternatives separated by `|`, any one of which
/// satisfies it.
pub type Alternatives<'a> = Vec<Relation<'a>>;

/// Parses a `Depends`-like field (also `Pre-Depends`, `Recommends`,
/// `Suggests`, `Breaks`, `Conflicts`, `Replaces`, `Enhances`,
/// `Build-Depends`). An empty or all-whitespace field has no entries.
pub fn parse_relations(s: &str) -> Result<Vec<Alternatives<'_>>, RelationError> {
    Parser::new(s, false).field()
}

/// Parses a `Provides` field: like [`parse_relations`], but without
/// alternatives or restrictions, and with `=` as the only allowed operator.
/// Every returned entry has exactly one relation.
pub fn parse_provides(s: &str) -> Result<Vec<Alternatives<'_>>, RelationError> {
    Parser::new(s, true).field()
}

/// The input from `pos` up to the next `,` (not counting one at `pos`
/// itself), at most [`ERROR_QUOTE_LEN`] bytes, cut on a character boundary.
fn fragment(s: &str, pos: usize) -> String {
    let rest = s.get(pos..).unwrap_or_default();
    let comma = rest.get(1..).and_then(|r| r.find(',')).map(|i| i + 1);
    let mut end = comma.unwrap_or(rest.len()).min(ERROR_QUOTE_LEN);
    while !rest.is_char_boundary(end) {
        end -= 1;
    }
    rest.get(..end).unwrap_or_default().trim_end().to_owned()
}

/// Characters of package names (Policy: `[a-z0-9][a-z0-9+.-]+`; upper case
/// and `_` are tolerated like apt does).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_')
}

/// Characters of architecture names and wildcards.
fn is_arch_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// Characters of build profile names.
fn is_profile_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_')
}

/// Characters that end a version inside `( )`.
fn ends_version(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b')' | b'(' | b',' | b'|' | b'[' | b']' | b'<' | b'>' | b'='
        )
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    provides: bool,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str, provides: bool) -> Self {
        Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
            provides,
        }
    }

    fn err(&self, pos: usize, kind: RelationErrorKind) -> RelationError {
        RelationError {
            pos,
            fragment: fragment(self.s, pos),
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Consumes a run of ASCII bytes accepted by `pred` (possibly empty).
    fn take(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        // `pred` only accepts ASCII here, so both ends are char boundaries.
        self.s.get(start..self.pos).unwrap_or_default()
    }

    fn unexpected(&self) -> RelationError {
        let c = self
            .s
            .get(self.pos..)
            .and_then(|r| r.chars().next())
            .unwrap_or(' ');
        self.err(self.pos, RelationErrorKind::UnexpectedCharacter(c))
    }

    fn field(mut self) -> Result<Vec<Alternatives<'a>>, RelationError> {
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek().is_none() {
            return Ok(out);
        }
        loop {
            out.push(self.alternatives()?);
            self.skip_ws();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek().is_none() {
                        return Ok(out);
                    }
                }
                Some(_) => return Err(self.unexpected()),
            }
        }
    }

    fn alternatives(&mut self) -> Result<Alternatives<'a>, RelationError> {
        let mut alts = vec![self.relation()?];
        loop {
            self.skip_ws();
            if self.peek() != Some(b'|') {
                return Ok(alts);
            }
            if self.provides {
                return Err(self.err(self.pos, RelationErrorKind::ProvidesAlternatives));
            }
            self.pos += 1;
            alts.push(self.relation()?);
        }
    }

    fn relation(&mut self) -> Result<Relation<'a>, RelationError> {
        self.skip_ws();
        let name = self.take(is_name_byte);
        if name.is_empty() {
            return Err(match self.peek() {
                None | Some(b',' | b'|') => self.err(self.pos, RelationErrorKind::EmptyRelation),
                Some(_) => self.unexpected(),
            });
        }
        let mut rel = Relation {
            name,
            ..Relation::default()
        };
        self.skip_ws();
        if self.peek() == Some(b':') {
            self.pos += 1;
            self.skip_ws();
            let q = self.take(is_arch_byte);
            if q.is_empty() {
                return Err(self.err(self.pos, RelationErrorKind::MissingArchQualifier));
            }
            rel.arch_qualifier = Some(q);
            self.skip_ws();
        }
        if self.peek() == Some(b'(') {
            let paren_pos = self.pos;
            self.pos += 1;
            self.skip_ws();
            let op_pos = self.pos;
            let (op, len) = RelOp::lex(self.b.get(self.pos..).unwrap_or_default())
                .ok_or_else(|| self.err(self.pos, RelationErrorKind::MissingOperator))?;
            if self.provides && op != RelOp::Eq {
                return Err(self.err(op_pos, RelationErrorKind::ProvidesOperator(op)));
            }
            self.pos += len;
            self.skip_ws();
            let version = self.take(|b| !ends_version(b) && b.is_ascii());
            if version.is_empty() {
                return Err(match self.peek() {
                    Some(b) if !b.is_ascii() => self.unexpected(),
                    _ => self.err(self.pos, RelationErrorKind::MissingVersion),
                });
            }
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err(match self.peek() {
                    None | Some(b',' | b'|') => {
                        self.err(paren_pos, RelationErrorKind::UnterminatedVersion)
                    }
                    Some(_) => self.unexpected(),
                });
            }
            self.pos += 1;
            rel.constraint = Some((op, version));
            self.skip_ws();
        }
        if self.peek() == Some(b'[') {
            if self.provides {
                return Err(self.err(self.pos, RelationErrorKind::ProvidesRestriction));
            }
            rel.arch_restrictions = self.arch_list()?;
            self.skip_ws();
        }
        while self.peek() == Some(b'<') {
            if self.provides {
                return Err(self.err(self.pos, RelationErrorKind::ProvidesRestriction));
            }
            rel.profiles.push(self.profile_group()?);
            self.skip_ws();
        }
        Ok(rel)
    }

    /// Parses `[ [!]arch ... ]`; the cursor is on `[`.
    fn arch_list(&mut self) -> Result<Vec<ArchRestriction<'a>>, RelationError> {
        let open = self.pos;
        self.pos += 1;
        let mut list: Vec<ArchRestriction<'a>> = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.err(open, RelationErrorKind::BadArchList)),
                Some(_) => {}
            }
            let term_pos = self.pos;
            let negated = self.peek() == Some(b'!');
            if negated {
                self.pos += 1;
            }
            let arch = self.take(is_arch_byte);
            if arch.is_empty() {
                return Err(self.err(self.pos, RelationErrorKind::BadArchList));
            }
            if list.first().is_some_and(|a| a.negated != negated) {
                return Err(self.err(term_pos, RelationErrorKind::MixedArchNegation));
            }
            list.push(ArchRestriction { negated, arch });
        }
        if list.is_empty() {
            return Err(self.err(open, RelationErrorKind::EmptyArchList));
        }
        Ok(list)
    }

    /// Parses `< [!]profile ... >`; the cursor is on `<`.
    fn profile_group(&mut self) -> Result<Vec<ProfileTerm<'a>>, RelationError> {
        let open = self.pos;
        self.pos += 1;
        let mut group = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'>') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.err(open, RelationErrorKind::BadProfileList)),
                Some(_) => {}
            }
            let negated = self.peek() == Some(b'!');
            if negated {
                self.pos += 1;
            }
            let name = self.take(is_profile_byte);
            if name.is_empty() {
                return Err(self.err(self.pos, RelationErrorKind::BadProfileList));
            }
            group.push(ProfileTerm { negated, name });
        }
        if group.is_empty() {
            return Err(self.err(open, RelationErrorKind::EmptyProfileList));
        }
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str) -> Relation<'_> {
        Relation {
            name,
            ..Relation::default()
        }
    }

    fn names<'a>(r: &[Alternatives<'a>]) -> Vec<Vec<&'a str>> {
        r.iter()
            .map(|a| a.iter().map(|x| x.name).collect())
            .collect()
    }

    #[test]
    fn simple_lists_and_alternatives() {
        let r = parse_relations("libc6 (>= 2.34), debconf | debconf-2.0,perl").unwrap();
        assert_eq!(
            names(&r),
            vec![vec!["libc6"], vec!["debconf", "debconf-2.0"], vec!["perl"]]
        );
        assert_eq!(r[0][0].constraint, Some((RelOp::Ge, "2.34")));
        assert_eq!(r[1][0], rel("debconf"));
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations("  \n ").unwrap().is_empty());
    }

    #[test]
    fn all_operators_including_obsolete() {
        for (text, op) in [
            ("<<", RelOp::Lt),
            ("<=", RelOp::Le),
            ("=", RelOp::Eq),
            (">=", RelOp::Ge),
            (">>", RelOp::Gt),
            ("<", RelOp::Le),
            (">", RelOp::Ge),
        ] {
            let s = format!("foo ({text} 1:2.3-4~b1)");
            let r = parse_relations(&s).unwrap();
            assert_eq!(r[0][0].constraint, Some((op, "1:2.3-4~b1")), "{s}");
            let s = format!("foo({text}1.0)");
            let r = parse_relations(&s).unwrap();
            assert_eq!(r[0][0].constraint, Some((op, "1.0")), "{s}");
            assert_eq!(text.parse::<RelOp>().unwrap(), op);
        }
        assert_eq!(
            "=>".parse::<RelOp>().unwrap_err().kind,
            RelationErrorKind::UnknownOperator
        );
        assert!("".parse::<RelOp>().is_err());
        assert!("<<=".parse::<RelOp>().is_err());
        assert_eq!(RelOp::Lt.as_str(), "<<");
        assert_eq!(RelOp::Ge.to_string(), ">=");
    }

    #[test]
    fn op_matches_orderings() {
        use Ordering::*;
        let table = [
            (RelOp::Lt, [true, false, false]),
            (RelOp::Le, [true, true, false]),
            (RelOp::Eq, [false, true, false]),
            (RelOp::Ge, [false, true, true]),
            (RelOp::Gt, [false, false, true]),
        ];
        for (op, expect) in table {
            for (ord, e) in [Less, Equal, Greater].into_iter().zip(expect) {
                assert_eq!(op.matches(ord), e, "{op} {ord:?}");
            }
        }
    }

    #[test]
    fn arch_qualifiers() {
        let r = parse_relations("python3:any (>= 3.11), libfoo:amd64, gcc:native").unwrap();
        assert_eq!(r[0][0].arch_qualifier, Some("any"));
        assert_eq!(r[0][0].constraint, Some((RelOp::Ge, "3.11")));
        assert_eq!(r[1][0].arch_qualifier, Some("amd64"));
        assert_eq!(r[2][0].arch_qualifier, Some("native"));
        let e = parse_relations("foo:, bar").unwrap_err();
        assert_eq!(e.kind, RelationErrorKind::MissingArchQualifier);
        assert_eq!(e.pos, 4);
    }

    #[test]
    fn arch_restrictions_and_profiles() {
        let r = parse_relations(
            "libselinux1-dev [linux-any], foo [!hurd-i386 !kfreebsd-any] <!nocheck> <stage1 cross>",
        )
        .unwrap();
        assert_eq!(
            r[0][0].arch_restrictions,
            vec![ArchRestriction {
                negated: false,
                arch: "linux-any"
            }]
        );
        let foo = &r[1][0];
        assert_eq!(
            foo.arch_restrictions,
            vec![
                ArchRestriction {
                    negated: true,
                    arch: "hurd-i386"
                },
                ArchRestriction {
                    negated: true,
                    arch: "kfreebsd-any"
                }
            ]
        );
        assert_eq!(
            foo.profiles,
            vec![
                vec![ProfileTerm {
                    negated: true,
                    name: "nocheck"
                }],
                vec![
                    ProfileTerm {
                        negated: false,
                        name: "stage1"
                    },
                    ProfileTerm {
                        negated: false,
                        name: "cross"
                    }
                ]
            ]
        );
        assert_eq!(
            foo.to_string(),
            "foo [!hurd-i386 !kfreebsd-any] <!nocheck> <stage1 cross>"
        );
        let r = parse_relations("a:any (= 1) [amd64] <!nocheck>").unwrap();
        assert_eq!(r[0][0].to_string(), "a:any (= 1) [amd64] <!nocheck>");
        let r = parse_relations("gcc <pkg.gcc.foo>").unwrap();
        assert_eq!(r[0][0].profiles[0][0].name, "pkg.gcc.foo");
    }

    #[test]
    fn whitespace_and_newlines_anywhere() {
        let s = "  a\n (\t>=\n 1.0 ) \n [ amd64\n i386 ] < !nocheck >\n ,\n b\n |\n c : any ,";
        let r = parse_relations(s).unwrap();
        assert_eq!(names(&r), vec![vec!["a"], vec!["b", "c"]]);
        assert_eq!(r[0][0].constraint, Some((RelOp::Ge, "1.0")));
        assert_eq!(r[0][0].arch_restrictions.len(), 2);
        assert_eq!(r[0][0].profiles[0][0].name, "nocheck");
        assert_eq!(r[1][1].arch_qualifier, Some("any"));
    }

    #[test]
    fn errors_carry_position_and_fragment() {
        let cases: &[(&str, usize, RelationErrorKind)] = &[
            ("a, , b", 3, RelationErrorKind::EmptyRelation),
            (", a", 0, RelationErrorKind::EmptyRelation),
            ("a | | b", 4, RelationErrorKind::EmptyRelation),
            ("a |", 3, RelationErrorKind::EmptyRelation),
            ("a (1.0)", 3, RelationErrorKind::MissingOperator),
            ("a (>= )", 6, RelationErrorKind::MissingVersion),
            ("a (==1)", 4, RelationErrorKind::MissingVersion),
            ("a (>= 1.0", 2, RelationErrorKind::UnterminatedVersion),
            ("a (>= 1.0, b", 2, RelationErrorKind::UnterminatedVersion),
            (
                "a (>= 1.0 2)",
                10,
                RelationErrorKind::UnexpectedCharacter('2'),
            ),
            ("a b", 2, RelationErrorKind::UnexpectedCharacter('b')),
            (
                "a, b (= 1) c",
                11,
                RelationErrorKind::UnexpectedCharacter('c'),
            ),
            ("a, é", 3, RelationErrorKind::UnexpectedCharacter('é')),
            ("a (= é)", 5, RelationErrorKind::UnexpectedCharacter('é')),
            ("a [amd64", 2, RelationErrorKind::BadArchList),
            ("a [amd64 ,]", 9, RelationErrorKind::BadArchList),
            ("a []", 2, RelationErrorKind::EmptyArchList),
            ("a [amd64 !i386]", 9, RelationErrorKind::MixedArchNegation),
            ("a <nocheck", 2, RelationErrorKind::BadProfileList),
            ("a <>", 2, RelationErrorKind::EmptyProfileList),
            ("a <!>", 4, RelationErrorKind::BadProfileList),
            (
                "a [amd64] (>= 1)",
                10,
                RelationErrorKind::UnexpectedCharacter('('),
            ),
        ];
        for (s, pos, kind) in cases {
            let e = parse_relations(s).unwrap_err();
            assert_eq!((e.pos, &e.kind), (*pos, kind), "{s:?}");
            assert_eq!(e.fragment, fragment(s, *pos));
        }
        let e = parse_relations("good (>= 1), bad (>= 2, ok").unwrap_err();
        assert_eq!((e.pos, e.fragment.as_str()), (17, "(>= 2"));
        let e = parse_relations("a, , b").unwrap_err();
        assert_eq!(e.fragment, ", b");
        let e = parse_relations("good, bad [x86 !arm], ok").unwrap_err();
        assert_eq!(e.pos, 15);
        assert_eq!(e.fragment, "!arm]");
        assert_eq!(
            e.to_string(),
            "at byte 15 near \"!arm]\": architecture restriction mixes negated and plain \
             architectures; use all `!` or none"
        );
        let long = format!("a ({})", "x".repeat(100));
        let e = parse_relations(&long).unwrap_err();
        assert_eq!(e.fragment.len(), ERROR_QUOTE_LEN);
    }

    #[test]
    fn provides_rules() {
        let r = parse_provides("mail-transport-agent, libfoo-abi-1 (= 1.2-3), x:any").unwrap();
        assert_eq!(
            names(&r),
            vec![
                vec!["mail-transport-agent"],
                vec!["libfoo-abi-1"],
                vec!["x"]
            ]
        );
        assert_eq!(r[1][0].constraint, Some((RelOp::Eq, "1.2-3")));
        let e = parse_provides("a (>= 1)").unwrap_err();
        assert_eq!(e.kind, RelationErrorKind::ProvidesOperator(RelOp::Ge));
        assert_eq!(e.pos, 3);
        let e = parse_provides("a, b | c").unwrap_err();
        assert_eq!(
            (e.pos, e.kind),
            (5, RelationErrorKind::ProvidesAlternatives)
        );
        let e = parse_provides("a [amd64]").unwrap_err();
        assert_eq!(e.kind, RelationErrorKind::ProvidesRestriction);
        let e = parse_provides("a <!nocheck>").unwrap_err();
        assert_eq!(e.kind, RelationErrorKind::ProvidesRestriction);
        // The same input is fine as a Depends-like field.
        assert!(parse_relations("a (>= 1), b | c").is_ok());
    }

    #[test]
    fn trailing_comma_tolerated() {
        let r = parse_relations("a, b,\n").unwrap();
        assert_eq!(names(&r), vec![vec!["a"], vec!["b"]]);
        assert!(parse_relations("a,,").is_err());
    }
}
