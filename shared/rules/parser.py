"""Rule text → a checked tree: Entra's grammar (lark, LALR), then the property and type checks."""

from __future__ import annotations

import difflib
from datetime import date

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from shared.rules import nodes
from shared.rules.errors import RuleError
from shared.rules.lexer import DASHES, lexical_error, plain
from shared.rules.nodes import (
    AFFILIATION,
    BOOLEAN,
    DATE,
    ITEM,
    LIST,
    MEMBER_OF,
    NULL,
    NUMBER,
    OPERATORS,
    ORDERING,
    PERSON,
    RECORDS,
    STRING,
    STRINGS,
    TEXT_ONLY,
    Comparison,
    Conjunction,
    Disjunction,
    Literal,
    Negation,
    Node,
    Property,
    Quantifier,
)
from shared.rules.regex import PatternError, compile_pattern

MAX_RULE_LENGTH = 3072  # characters, Entra's limit on the body of a membership rule
MAX_DEPTH = 20  # nesting of parentheses, -not and -any/-all
_OPERATOR_NAMES = "|".join(OPERATORS)  # eq|ne|startswith|…, matched case-insensitively

# -not binds tighter than -and, -and tighter than -or (Entra's precedence).
# Terminals: lark's lexer tries them by priority, highest first (a date before a number, a
# keyword before a property). Operators and keywords are dash + letters, case-insensitive, and
# must be the whole run of letters (-eqx is an unknown operator, not -eq then x); a typographic
# dash counts as -. A text's closing quote is one not doubled, so "a""" is a"; '' likewise.
GRAMMAR = rf"""
?start: disjunction
?disjunction: conjunction (OR conjunction)*
?conjunction: negation (AND negation)*
?negation: NOT negation -> negated
         | atom
?atom: LPAR disjunction RPAR -> group
     | PROPERTY OPERATOR (scalar | list) -> comparison
     | PROPERTY QUANT LPAR disjunction RPAR -> quantified
     | PROPERTY QUANT PROPERTY OPERATOR (scalar | list) -> quantified_clause
scalar: STRING | NUMBER | DATE | TRUE | FALSE | NULL
list: LSQB (scalar (COMMA scalar)*)? RSQB

LPAR: "("
RPAR: ")"
LSQB: "["
RSQB: "]"
COMMA: ","
STRING.7: /"(?:""|[\\`]"|[^"\\`]|[\\`](?!"))*"(?!")/ | /'(?:''|[^'])*'(?!')/
DATE.6: /\d{{4}}-\d{{2}}-\d{{2}}(?:T[0-9:.]+(?:Z|[+-]\d{{2}}:?\d{{2}})?)?(?![\w.])/
NUMBER.5: _DASH? /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])/
AND.4: _DASH /(?ai:and)(?![A-Za-z])/
OR.4: _DASH /(?ai:or)(?![A-Za-z])/
NOT.4: _DASH /(?ai:not)(?![A-Za-z])/
QUANT.4: _DASH /(?ai:any|all)(?![A-Za-z])/
OPERATOR.4: _DASH /(?ai:{_OPERATOR_NAMES})(?![A-Za-z])/
TRUE.3: /(?ai:true)/ _WORD_END
FALSE.3: /(?ai:false)/ _WORD_END
NULL.3: /(?ai:null)/ _WORD_END
PROPERTY.2: /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/
_WORD_END: /(?![A-Za-z0-9_]|\.[A-Za-z0-9_])/
_DASH: /[{DASHES}]/
%ignore /\s+/
"""

_LARK = Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=False)

_NESTING = {"group", "negated", "quantified", "quantified_clause"}
_WHAT = {
    "PROPERTY": "a property such as person.givenName",
    "OPERATOR": "an operator such as -eq",
    "QUANT": "-any or -all",
    "AND": "-and", "OR": "-or", "NOT": "-not",
    "LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "COMMA": ",",
    "STRING": "text in double quotes", "NUMBER": "a number", "DATE": "a date",
    "TRUE": "true", "FALSE": "false", "NULL": "null",
}
_VALUE_TOKENS = {"STRING", "NUMBER", "DATE", "TRUE", "FALSE", "NULL", "LSQB"}
_DATE_OPERATORS = frozenset({"eq", "ne", "in", "notin", "lt", "le", "gt", "ge"})


def parse_tree(text: str) -> Node:
    """The checked tree of a rule, or RuleError at the first problem."""
    if not isinstance(text, str):
        raise TypeError("a rule is text")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(
            f"the rule is {len(text):,} characters long; the limit is {MAX_RULE_LENGTH:,}",
            text, MAX_RULE_LENGTH,
        )
    if not text.strip():  # only what %ignore skips: no token at all
        raise RuleError("the rule is empty: write a condition such as person.status -eq \"active\"", text, 0)
    try:
        tree = _LARK.parse(text)
    except UnexpectedCharacters as error:  # the first text no terminal matches
        raise lexical_error(text, error.pos_in_stream) from None
    except UnexpectedToken as error:
        raise _syntax_error(text, _tokens(text), error) from None
    except UnexpectedInput as error:  # pragma: no cover - lark raises only the two above
        raise RuleError("the rule could not be read", text, getattr(error, "pos_in_stream", 0) or 0) from None
    _check_depth(text, tree)
    return _Checker(text).node(tree, PERSON, None)


def _tokens(text: str) -> list[Token]:
    """All the tokens of a text the parser refused, or the first text that isn't one.

    The parser reads tokens as lark's lexer makes them and stops at the first it can't use;
    a problem in the writing of the rule, even further on, is reported before one of grammar.
    """
    try:
        return list(_LARK.lex(text))
    except UnexpectedCharacters as error:
        raise lexical_error(text, error.pos_in_stream) from None


def _syntax_error(text: str, tokens: list[Token], error: UnexpectedToken) -> RuleError:
    token = error.token
    try:  # what the parser would accept here (LALR's own `expected` can be wider)
        expected = set(error.interactive_parser.accepts())
    except Exception:  # pragma: no cover - fall back on lark's estimate
        expected = set(error.expected)
    may_end = "$END" in expected
    expected.discard("$END")
    at_end = token.type == "$END"
    position = tokens[-1].end_pos if at_end else token.start_pos
    want = _wanted(expected, may_end, _previous(tokens, position))
    hint = ""
    if expected and expected <= _VALUE_TOKENS and token.type == "PROPERTY":
        hint = f' (to compare with the text {token}, write "{token}")'
    if token.type == "RPAR" and "RPAR" not in expected and "PROPERTY" not in expected:
        return RuleError("unexpected ): there is no ( left to close", text, position)
    if at_end:
        return RuleError(f"the rule ends too early: expected {want}", text, position)
    return RuleError(f"unexpected {_show(token)}: expected {want}{hint}", text, position)


def _wanted(expected: set[str], may_end: bool, previous: Token | None) -> str:
    """What the parser wanted where it stopped, in words."""
    if expected and expected <= _VALUE_TOKENS:
        after = f" after {_show(previous)}" if previous is not None else ""
        return f"a value{after}: text in double quotes, a number, true, false, null or a [list]"
    if "OPERATOR" in expected:
        subject = f" after {previous}" if previous is not None and previous.type == "PROPERTY" else ""
        return f"an operator{subject}, such as -eq, -startsWith or -in (-any/-all for a list)"
    if "PROPERTY" in expected:
        return 'a condition such as person.givenName -eq "Ada"'
    if expected and expected <= {"AND", "OR", "RPAR"}:
        options = ["-and", "-or"] + ([")"] if "RPAR" in expected else [])
        options += ["the end of the rule"] if may_end else []
        return ", ".join(options[:-1]) + " or " + options[-1]
    options = sorted(_WHAT.get(name, name) for name in expected) + (["the end"] if may_end else [])
    return " or ".join(options) or "nothing more"


def _previous(tokens: list[Token], position: int) -> Token | None:
    before = [t for t in tokens if t.end_pos <= position]
    return before[-1] if before else None


def _show(token: Token) -> str:
    if token.type == "OPERATOR":
        return OPERATORS[plain(token)]
    if token.type == "STRING":
        return '"' + plain(token).replace('"', '\\"') + '"'
    return plain(token)


def _check_depth(text: str, tree: Tree) -> None:
    """Refuse nesting deeper than MAX_DEPTH before anything recurses over the tree."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    while stack:
        current, depth = stack.pop()
        if current.data in _NESTING:
            depth += 1
            if depth > MAX_DEPTH:
                raise RuleError(
                    f"the rule is nested too deeply: at most {MAX_DEPTH} levels of parentheses, "
                    "-not and -any/-all", text, current.meta.start_pos,
                )
        stack.extend((child, depth) for child in current.children if isinstance(child, Tree))


class _Checker:
    """Lark tree → nodes, checking each property, operator and value where it is written."""

    def __init__(self, text: str):
        self.text = text

    def fail(self, message: str, position: int) -> RuleError:
        return RuleError(message, self.text, position)

    # -- structure -------------------------------------------------------------------------
    def node(self, tree: Tree, scope: str, collection: Property | None) -> Node:
        kind = tree.data
        start, end = tree.meta.start_pos, tree.meta.end_pos
        if kind == "disjunction":
            return Disjunction(self.operands(tree, scope, collection), start, end)
        if kind == "conjunction":
            return Conjunction(self.operands(tree, scope, collection), start, end)
        if kind == "negated":
            if collection is MEMBER_OF:
                raise self.fail(_MEMBER_OF_ONLY, start)
            return Negation(self.node(tree.children[1], scope, collection), start, end)
        if kind == "group":
            return self.node(tree.children[1], scope, collection)
        if kind == "comparison":
            name, op, value = tree.children
            return self.comparison(name, op, value, scope, collection, start, end)
        if kind in ("quantified", "quantified_clause"):
            return self.quantifier(tree, scope, start, end)
        raise AssertionError(kind)  # pragma: no cover

    def operands(self, tree: Tree, scope: str, collection: Property | None) -> list[Node]:
        return [self.node(c, scope, collection) for c in tree.children if isinstance(c, Tree)]

    def quantifier(self, tree: Tree, scope: str, start: int, end: int) -> Quantifier:
        name, quant = tree.children[0], tree.children[1]
        quantifier = plain(quant)  # -any or -all
        prop = self.prop(name, scope, None)
        if prop.kind not in (STRINGS, RECORDS):
            raise self.fail(
                f"{quantifier} needs a list property such as person.affiliations, person.emails, "
                f"person.sources or person.memberOf; {name} is a single value", quant.start_pos)
        inner = AFFILIATION if prop.kind == RECORDS else ITEM
        if tree.data == "quantified":
            body = self.node(tree.children[3], inner, prop)
        else:
            _, _, item_name, op, value = tree.children
            body = self.comparison(item_name, op, value, inner, prop, item_name.start_pos, end)
        return Quantifier(prop, quantifier == "-all", body, start, end)

    # -- properties ------------------------------------------------------------------------
    def prop(self, token: Token, scope: str, collection: Property | None) -> Property:
        written = str(token)
        parts = written.casefold().split(".")
        head = parts[0]
        if scope == ITEM:
            assert collection is not None
            if written == "_" or (collection is MEMBER_OF and parts in (["group", "objectid"], ["group", "id"])):
                return nodes.item(collection)
            raise self.fail(
                f"inside {collection.path} -any/-all (...) the value is written _, "
                f'e.g. _ -eq "x"; {written} can\'t be used there', token.start_pos)
        if head == "_":
            raise self.fail(
                "_ stands for one value of a list and can only be used inside -any/-all (...), "
                'e.g. person.emails -any (_ -endsWith "@example.edu")', token.start_pos)
        if scope == AFFILIATION:
            if head == "person":
                raise self.fail(
                    f"inside person.affiliations -any/-all (...) properties are those of an "
                    f"affiliation, such as affiliation.type; {written} can't be used there",
                    token.start_pos)
            if head != "affiliation":
                raise self.unknown(token, "affiliation", nodes.AFFILIATION_PROPERTIES)
            return self.member(token, parts, AFFILIATION, nodes.AFFILIATION_PROPERTIES)
        if head == "affiliation":
            raise self.fail(
                f"{written} can only be used inside person.affiliations -any (...) or -all (...), "
                f'e.g. person.affiliations -any ({written} -eq "...")', token.start_pos)
        if head != "person":
            raise self.unknown(token, "person", nodes.PERSON_PROPERTIES)
        return self.member(token, parts, PERSON, nodes.PERSON_PROPERTIES)

    def member(self, token: Token, parts: list[str], scope: str, table: dict[str, Property]) -> Property:
        if len(parts) >= 2 and parts[1] == "attributes":
            if len(parts) != 3:
                raise self.fail(
                    f"name one attribute: {parts[0]}.attributes.<name>, e.g. {parts[0]}.attributes.grade",
                    token.start_pos)
            return nodes.attribute(scope, str(token).split(".")[2])
        if len(parts) == 2 and parts[1] in table:
            return table[parts[1]]
        raise self.unknown(token, parts[0], table)

    def unknown(self, token: Token, head: str, table: dict[str, Property]) -> RuleError:
        names = [f"{head}.{p.key}" for p in table.values()] + [f"{head}.attributes.<name>"]
        last = str(token).rsplit(".", 1)[-1].casefold()
        close = difflib.get_close_matches(last, [n.rsplit(".", 1)[-1].casefold() for n in names], n=1, cutoff=0.7)
        if close:
            spelled = next(n for n in names if n.rsplit(".", 1)[-1].casefold() == close[0])
            hint = f"; did you mean {spelled}?"
        else:
            hint = f"; properties are {', '.join(names)}"
        return self.fail(f"unknown property {token}{hint}", token.start_pos)

    # -- comparisons -----------------------------------------------------------------------
    def comparison(self, name: Token, op_token: Token, value: Tree, scope: str,
                   collection: Property | None, start: int, end: int) -> Comparison:
        prop = self.prop(name, scope, collection)
        op = plain(op_token)
        shown = OPERATORS[op]
        if prop.kind in (STRINGS, RECORDS):
            example = ('person.affiliations -any (affiliation.type -eq "employee")' if prop.kind == RECORDS
                       else f'{prop.path} -any (_ -eq "...")')
            raise self.fail(f"{name} is a list: test its values with -any or -all, e.g. {example}",
                            op_token.start_pos)
        literal = self.literal(value)
        self.check(prop, op, shown, literal, collection, op_token)
        if prop.kind == DATE and op in _DATE_OPERATORS:
            literal = self.dates(prop, literal)
        return Comparison(prop, op, literal, start, end)

    def literal(self, tree: Tree) -> Literal:
        if tree.data == "list":
            items = tuple(self.literal(c) for c in tree.children if isinstance(c, Tree))
            return Literal(LIST, items, tree.meta.start_pos, tree.meta.end_pos)
        token: Token = tree.children[0]
        start, end = token.start_pos, token.end_pos
        kind = token.type
        if kind in ("STRING", "DATE"):
            return Literal(STRING, plain(token), start, end)
        if kind == "NUMBER":
            return Literal(NUMBER, float(plain(token)), start, end)
        if kind in ("TRUE", "FALSE"):
            return Literal(BOOLEAN, kind == "TRUE", start, end)
        return Literal(NULL, None, start, end)

    def check(self, prop: Property, op: str, shown: str, literal: Literal,
              collection: Property | None, op_token: Token) -> None:
        at = literal.start
        if collection is MEMBER_OF and op not in ("eq", "in"):
            raise self.fail(_MEMBER_OF_ONLY, op_token.start_pos)
        if literal.kind == NULL:
            if op not in ("eq", "ne"):
                raise self.fail(f"null can only be used with -eq or -ne, not {shown}", at)
            return
        if op in ("in", "notin"):
            self.check_list(prop, op, shown, literal)
            return
        if literal.kind == LIST:
            instead = {"eq": " use -in for a list", "ne": " use -notIn for a list"}.get(op, "")
            raise self.fail(f"{shown} compares with one value, not a list;{instead or ' remove the brackets'}", at)
        if nodes.NEGATIONS.get(op, op) in TEXT_ONLY:
            if literal.kind != STRING:
                raise self.fail(f"{shown} compares text: put the value in double quotes", at)
            if op in ("match", "notmatch"):
                try:
                    compile_pattern(literal.value)
                except PatternError as error:
                    where = _value_position(self.text, literal.start, error.offset)
                    raise self.fail(f"not a valid regular expression: {error.message}", where) from None
            return
        if op in ORDERING and literal.kind == BOOLEAN:
            raise self.fail(f"{shown} compares numbers, dates or text, not true/false", at)
        self.check_value(prop, op, shown, literal)

    def check_list(self, prop: Property, op: str, shown: str, literal: Literal) -> None:
        """The list of -in/-notIn: a non-empty [list] without null, each value suiting the property."""
        if literal.kind != LIST:
            raise self.fail(f'{shown} needs a list in square brackets, e.g. {shown} ["FIN","HR"]', literal.start)
        if not literal.value:
            raise self.fail(f"{shown} needs at least one value in its list", literal.start)
        for item in literal.value:
            if item.kind == NULL:
                raise self.fail("null can't be in a list; test it with -eq null or -ne null", item.start)
            self.check_value(prop, op, shown, item)

    def check_value(self, prop: Property, op: str, shown: str, literal: Literal) -> None:
        """The one value of -eq/-ne/-lt… or each value of -in: does it suit the property?"""
        if prop.kind == nodes.VALUE:
            return
        label = "the value" if prop.scope == ITEM else prop.path.replace("person.affiliations.", "affiliation.")
        if prop.kind == DATE:
            if literal.kind != STRING or _day(literal.value) is None:
                raise self.fail(f'{label} is a date: compare it with a date such as "2000-01-01"',
                                literal.start)
            return
        if literal.kind != STRING:
            raise self.fail(f"{label} is text: put the value in double quotes", literal.start)
        if prop.choices is not None and op in ("eq", "ne", "in", "notin") \
                and literal.value.casefold() not in prop.choices:
            allowed = ", ".join(f'"{c}"' for c in sorted(prop.choices))
            raise self.fail(f'{label} is one of {allowed}, not "{literal.value}"', literal.start)

    def dates(self, prop: Property, literal: Literal) -> Literal:
        """Dates written as dates become their ISO text, so comparing text compares days."""
        if literal.kind == LIST:
            return Literal(LIST, tuple(self.dates(prop, i) for i in literal.value), literal.start, literal.end)
        if literal.kind != STRING:
            return literal
        return Literal(STRING, _day(literal.value).isoformat(), literal.start, literal.end)


_MEMBER_OF_ONLY = (
    'person.memberOf can only be tested with _ -eq "group-id" or _ -in ["a","b"] '
    "(combined with -and/-or), so that the groups a rule depends on are known"
)


def _day(value: str) -> date | None:
    if len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _value_position(text: str, start: int, offset: int) -> int:
    """The position in the rule of character `offset` of the quoted value starting at
    `start` (an escaped quote is two characters in the rule, one in the value)."""
    position, seen = start + 1, 0
    while seen < offset and position < len(text) - 1:
        doubled = text[position] in "\\`\"'" and text[position + 1] in "\"'"
        position += 2 if doubled else 1
        seen += 1
    return position
