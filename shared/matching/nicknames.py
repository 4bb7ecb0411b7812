"""Given-name equivalents: a nickname and its formal name compare as the same name.

Each line is one family of names; every name maps to the family's first (canonical) name.
The table is deliberately small and common-English-centred plus frequent European forms;
extend it here (docs/matching.md says how).
"""

from __future__ import annotations

from functools import cache

FAMILIES = """
alexander alex alec sandy sasha alejandro alessandro
andrew andy drew andreas andre andres
anthony tony antonio anton
benjamin ben benny benji
charles charlie chuck chas carl karl carlos
christopher chris kit cristobal christoph
daniel dan danny
david dave davy
edward ed eddie ted ned eduardo
elizabeth liz lizzie beth betty bess eliza elisabeth isabel lisa libby
frederick fred freddie fritz federico
james jim jimmy jamie diego jaime
john jack johnny jon juan johann johannes jan giovanni ivan sean
jonathan jon
joseph joe joey jose giuseppe josef
katherine kate katie kathy catherine cathy kathryn caitlin katharina
margaret maggie meg peggy marge margo greta margarita
matthew matt matteo mathias
michael mike mick mickey miguel michel michele
nicholas nick nicky nicolas niklas klaus
patricia pat patty tricia
patrick pat paddy
peter pete pedro pierre pietro piotr
richard rick ricky dick rich ricardo
robert rob bob bobby robbie bert roberto
samuel sam sammy
stephen steve stevie steven esteban stefan
susan sue susie suzanne susanna
thomas tom tommy tomas
timothy tim timmy
william will bill billy willy liam guillermo wilhelm
victoria vicky tori
jennifer jen jenny
rebecca becky becca
deborah debbie deb
jessica jess jessie
samantha sam
alexandra alex sandra sasha
benedict ben
zachary zach zack
nathaniel nate nathan
joshua josh
gregory greg
kenneth ken kenny
ronald ron ronnie
donald don donnie
douglas doug
lawrence larry laurence lorenzo
leonard leo len lenny leonardo
""".strip()


@cache
def _canonical() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in FAMILIES.splitlines():
        names = line.split()
        for name in names:
            table.setdefault(name, names[0])
    return table


def canonical(name: str) -> str:
    """The family's canonical name for a folded given name (the name itself if unknown)."""
    return _canonical().get(name, name)
