"""Crisis lexicon, round 6 (lexicon version 4): the five problems found while writing round-6 data.

1. Murder-suicide wording is violence_intent (a self-harm cue plus a harm-to-others cue: violence wins);
   pure self-harm stays self_harm.
2. Harm aimed only at oneself ("the only target is me") is self_harm, not violence.
3. A figurative look-alike ("gun show", "cramer la voiture") only covers its own span and clause: it
   neither hides a real threat elsewhere nor vetoes the model for the whole message.
4. A negated clause only vetoes the model for its own clause; a clause elsewhere that names a means
   (a weapon, a rope) or death keeps the model's say. Plain denials still veto.
5. French (and English) sport, game and cooking look-alikes of vi-fr-003 / vi-en-003 are not a crisis.

Every case is written by hand for this file (none is copied from data/nlu or the evaluation sets).
Run: .venv/bin/python -m pytest tests/test_crisis_lexicon_round6.py -q
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from components.crisis import decide
from components.crisis_lexicon import Assessment, CrisisLexicon, LexiconError

ROOT = Path(__file__).resolve().parent.parent


def _category(assessment: Assessment) -> Optional[str]:
    return assessment.hit.category if assessment.hit else None


def _vetoes(assessment: Assessment) -> bool:
    return bool(getattr(assessment, "vetoes_model", assessment.negated or assessment.figurative))


# ----------------------------------------------------------------------------- version header
def test_header_lists_version_4_pending_review() -> None:
    header = (ROOT / "content" / "crisis_lexicon.yml").read_text(encoding="utf-8").split("\nversion:")[0]
    assert "Version 4 (" in header
    assert "Pending safety-team review" in header.split("Version 4 (")[1]


# ----------------------------------------------------------------------------- 1. murder-suicide
# (text, self_harm also expected among the categories: the self-harm half is explicit)
MURDER_SUICIDE = [
    ("i'm leaving this world tonight but not alone, the ones who made my life hell are coming too", True),
    ("gonna end it all tonight but my stepdad goes first", True),
    ("i want to die but im taking the whole class with me", True),
    ("kms tonight and my ex is coming with me", True),
    ("suicide note is written. my ex and his new gf go first", True),
    ("i'm ending my life and taking them down with me", True),
    ("im gonna kill him then myself", False),
    ("gonna take as many of them as i can with me", False),
    ("i want to die and my ex is not staying alive either", True),
    ("ce soir je me fous en l'air mais je partirai pas seul", True),
    ("je vais me tuer et je les emmène avec moi", True),
    ("jvais en finir mais mon ex part avant moi", True),
    ("je veux mourir, et ceux qui m'ont pourri la vie viendront avec moi", True),
    ("je vais le buter puis me tirer une balle", True),
    ("je veux crever mais je partirai pas tout seul", True),
    ("je vais me pendre et j'en emmene quelques uns avec moi", True),
    ("jme suicide demain et mon beau-pere y passe en premier", True),
    ("g plus envie de vivre mais je mourrai pas seule", True),
    ("je vais en finir, et mon ex restera pas sur terre après moi", True),
]


@pytest.mark.parametrize("text,with_self_harm", MURDER_SUICIDE)
def test_murder_suicide_is_violence(lexicon: CrisisLexicon, text: str, with_self_harm: bool) -> None:
    result = lexicon.assess(text)
    assert _category(result) == "violence_intent", (text, result.hits)
    if with_self_harm:  # both categories are kept, so a caller can also offer the suicide line
        assert "self_harm" in result.categories, (text, result.hits)


MURDER_SUICIDE_LOOK_ALIKES = [
    # pure self-harm stays self-harm
    ("i'm leaving this world alone, nobody will even notice", "self_harm"),
    ("gonna end it tonight, my ex won't even care", "self_harm"),
    ("i want to die and take my secrets with me", "self_harm"),
    ("i want to kill myself, i'm not alone in feeling this", "self_harm"),
    ("je veux mourir, je partirai seule sans prevenir personne", "self_harm"),
    ("je vais me tuer, j'emporterai mes secrets avec moi", "self_harm"),
    ("jveux en finir, personne viendra avec moi de toute façon", "self_harm"),
    # the harm-to-others half alone is not a crisis
    ("my ex goes first, then me, that's the order at the counter", None),
    ("not leaving this party alone, my mates are coming too", None),
    ("we're taking the whole class with us to the museum", None),
    ("je partirai pas seule en vacances cet été", None),
    ("je les emmène avec moi au ciné ce soir", None),
    ("mon ex passe en premier chez le juge demain", None),
    ("my ex won't be staying for dinner", None),
    ("je veux mourir de rire, mon ex restera pas longtemps avec lui", None),
    ("i want to die, my sister is not living with us anymore", "self_harm"),
    ("ma mère est morte et mon père restera pas en vie longtemps, je veux mourir", "self_harm"),
]


@pytest.mark.parametrize("text,category", MURDER_SUICIDE_LOOK_ALIKES)
def test_murder_suicide_look_alikes(lexicon: CrisisLexicon, text: str, category: Optional[str]) -> None:
    result = lexicon.assess(text)
    assert _category(result) == category, (text, result.hits)
    assert "violence_intent" not in result.categories, (text, result.hits)


# ----------------------------------------------------------------------------- 2. only oneself as target
SELF_AS_TARGET = [
    "people say i'll shoot up the school but the only person i'd ever shoot is me",
    "everyone thinks i'm dangerous to others, the only one i want to kill is myself",
    "dont worry i wont hurt anyone but myself",
    "the only life i want to take is mine",
    "im not gonna stab anybody except myself",
    "they call me the next school shooter but the only target in my head is me",
    "le seul que j'ai envie de buter c'est moi",
    "ils disent que je vais tirer sur tout le monde, mais la seule cible c'est moi",
    "la seule personne que je veux tuer c'est moi-même",
    "jveux faire de mal à personne à part moi",
    "je tuerai personne d'autre que moi",
    "la seule vie que je veux prendre c'est la mienne",
    "au lycee ils croient que je vais tout faire peter mais la seule personne que je veux flinguer c moi",
]


@pytest.mark.parametrize("text", SELF_AS_TARGET)
def test_self_as_only_target_is_self_harm(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.categories == ("self_harm",), (text, result.hits)


SELF_AS_TARGET_LOOK_ALIKES = [
    # others are targets too: violence stays
    ("i'll shoot up the school and then myself", "violence_intent"),
    ("the only one who'll survive is me, i'm bringing a loaded rifle to school", "violence_intent"),
    ("je vais tirer sur tout le monde au lycée puis sur moi", "violence_intent"),
    ("le seul qui restera debout c'est moi, demain je ramène le fusil de mon père au lycée", "violence_intent"),
    # "only ... me" without harm is nothing
    ("the only person i trust is myself", None),
    ("the only one i'm competing with is me", None),
    ("the only one who can beat me is myself", None),
    ("la seule personne sur qui je compte c'est moi", None),
    ("le seul que je veux impressionner c'est moi", None),
    ("la seule qui peut me battre c'est moi", None),
]


@pytest.mark.parametrize("text,category", SELF_AS_TARGET_LOOK_ALIKES)
def test_self_as_target_look_alikes(lexicon: CrisisLexicon, text: str, category: Optional[str]) -> None:
    result = lexicon.assess(text)
    assert _category(result) == category, (text, result.hits)


# ----------------------------------------------------------------------------- 3. figurative scope
THREATS_NEXT_TO_LOOK_ALIKES = [
    "stocked up at the gun show, on friday they won't know what hit them at school",
    "picked up two rifles at the gun show. monday the mosque won't know what hit em",
    "gun show haul is done, tomorrow my class wont know what hit them",
    "gun show was sick lol, im gonna burn their house down with them inside",
    "gonna torch his car with him still in it",
    "my phone is dying, anyway tonight i set fire to the flat with them locked inside",
    "on crame la voiture du prof avec lui dedans",
    "je vais cramer la bagnole du voisin avec lui à l'intérieur",
    "on va foutre le feu à leur maison avec eux dedans",
    "mon tel est mort, du coup demain je crame la caisse du CPE avec lui dedans",
    "j'ai pris une carabine au salon des armes, lundi au lycée ils comprendront pas ce qui leur arrive",
]


@pytest.mark.parametrize("text", THREATS_NEXT_TO_LOOK_ALIKES)
def test_figurative_cue_does_not_hide_a_real_threat(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == "violence_intent", (text, result.hits)


FIGURATIVE_STILL_COVERED = [
    ("welcome to the gun show lol", True),
    ("went to the gun show with my uncle, so boring", True),
    ("my phone is dying lol", True),
    ("j'ai cramé la voiture, l'embrayage est mort", True),
    ("on a cramé la voiture de mon père en rentrant de vacances", True),
    ("j'ai flingué mon téléphone, l'écran est mort", True),
    ("they won't know what hit them, our defence is unreal this season", False),
    ("new album drops friday, they won't know what hit them", False),
    ("samedi au match ils comprendront pas ce qui leur arrive", False),
]


@pytest.mark.parametrize("text,figurative", FIGURATIVE_STILL_COVERED)
def test_figurative_look_alikes_still_covered(lexicon: CrisisLexicon, text: str, figurative: bool) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)
    if figurative:
        assert result.figurative and _vetoes(result), text


@pytest.mark.parametrize(
    "text,vetoes",
    [
        # the figurative clause vetoes the model only for itself: a means named elsewhere lifts the veto
        ("welcome to the gun show lol, my dad's pistol is in my bag now", False),
        ("ma batterie est morte, bref j'ai le flingue de mon père dans mon sac", False),
        ("this meme is killing me lol. the rope is still in the garage", False),
        ("mdr ce prof va me tuer, sinon j'ai la corde dans ma chambre", False),
        ("on va les tuer ce soir au match, j'ai ramené le flingue", False),
        ("we'll kill them at the game lol. my dad's rifle is in the car", False),
        # nothing else in the message: the veto holds
        ("welcome to the gun show lol, see you at practice", True),
        ("mon tel est mort mdr, à demain", True),
        ("this meme is killing me lol", True),
        ("ma daronne va me tuer si je rentre tard, bref", True),
    ],
)
def test_figurative_veto_is_scoped_to_its_clause(lexicon: CrisisLexicon, text: str, vetoes: bool) -> None:
    result = lexicon.assess(text)
    assert result.hit is None and result.figurative, (text, result.hits)
    assert _vetoes(result) is vetoes, text


# ----------------------------------------------------------------------------- 4. negation scope
NEGATED_CLAUSE_THEN_CRISIS = [
    "I'm not planning to attack anybody, I'm planning to disappear with my dad's pistol",
    "not gonna hurt anyone, just gonna vanish with my father's gun tonight",
    "i won't attack anyone. i'll disappear for good with the rifle",
    "i would never hurt anybody but i want to disappear with my uncle's shotgun",
    "je ferai de mal à personne, je vais juste disparaître avec le flingue de mon père",
    "je vais attaquer personne, je veux disparaitre avec le fusil de mon oncle",
    "jvais tuer personne tkt, jvais juste disparaitre avec le pistolet du daron",
    "je ne ferai jamais de mal à personne mais je veux disparaitre avec la carabine de mon grand-père",
]


@pytest.mark.parametrize("text", NEGATED_CLAUSE_THEN_CRISIS)
def test_negated_clause_does_not_hide_a_later_crisis(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == "self_harm", (text, result.hits)


DENIALS = [
    "I would never hurt myself, don't worry",
    "je ne ferai jamais de mal à personne",
    "i'm not suicidal, just tired of school",
    "je vais pas me tuer, t'inquiète, j'ai juste besoin de parler",
    "I'd never kill myself with a gun, I'm scared of them",
    "never gonna shoot up a school, i hate guns",
    "i would never hurt anyone, i promise",
    "je ferai de mal a personne, promis",
    "nah i won't hurt nobody",
    "jvais tuer personne, t'inquiète",
]


@pytest.mark.parametrize("text", DENIALS)
def test_denials_stay_non_crisis_and_veto_the_model(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)
    assert result.negated and _vetoes(result), text
    ranking = [{"name": "crisis_violence_intent", "confidence": 0.55}, {"name": "out_of_scope", "confidence": 0.4}]
    assert decide(result, ranking, 0.3) == {"demote_to": ranking[1]}, text


MODEL_AFTER_NEGATED_CLAUSE = [
    "I'm not going to kill anyone, tonight it's just me and the rope in the garage",
    "i'm not going to attack anyone but i've been staring at my dad's gun all night",
    "i'm not suicidal. i just want to disappear tonight",
    "i'm not going to shoot up anything, it's between me and my dad's rifle now",
    "je vais pas me tuer, enfin je sais pas, la corde est toujours dans le garage",
    "je ferai de mal à personne, ce soir c'est juste moi et le fusil de mon père",
    "je suis pas suicidaire, c'est juste que j'ai trouvé les munitions de mon père",
    "je vais tuer personne mais j'ai pris le flingue du daron",
]


@pytest.mark.parametrize("text", MODEL_AFTER_NEGATED_CLAUSE)
def test_model_is_not_vetoed_by_a_negation_in_another_clause(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None and result.negated, (text, result.hits)
    assert not _vetoes(result), text
    ranking = [{"name": "crisis_self_harm", "confidence": 0.6}, {"name": "out_of_scope", "confidence": 0.3}]
    decision = decide(result, ranking, 0.3, n_tokens=10)
    assert decision.get("crisis", {}).get("category") == "self_harm", (text, decision)
    assert decision["crisis"]["source"] == "model"


def test_decide_keeps_the_old_veto_for_assessments_without_scope() -> None:
    """Assessment-like objects without `vetoes_model` (older callers) still veto on negated/figurative."""
    from types import SimpleNamespace

    ranking = [{"name": "crisis_self_harm", "confidence": 0.6}, {"name": "out_of_scope", "confidence": 0.3}]
    old = SimpleNamespace(hit=None, negated=True, figurative=False)
    assert decide(old, ranking, 0.3) == {"demote_to": ranking[1]}


# ----------------------------------------------------------------------------- 5. sport, games, cooking
SPORT_AND_COOKING = [
    ("on va les tuer ce soir au match", True),
    ("je vais massacrer ces oignons", True),
    ("on les a défoncés 4-0", True),
    ("je vais tuer ce niveau", True),
    ("on va tous les buter samedi en finale", True),
    ("jvais les massacrer ces tomates pour la sauce", True),
    ("on va les exploser demain au basket", True),
    ("on les a massacrés 5 à 1 hier", True),
    ("je vais les défoncer tous au bowling vendredi", True),
    ("je vais les tuer ces moustiques", True),
    ("we're gonna kill them tonight at the game", True),
    ("gonna massacre these onions for the curry", True),
    ("we destroyed them 4-0", True),
    ("i'm going to kill this level", True),
    ("we'll slaughter them in the final on saturday", True),
]


@pytest.mark.parametrize("text,figurative", SPORT_AND_COOKING)
def test_sport_game_and_cooking_are_not_a_crisis(lexicon: CrisisLexicon, text: str, figurative: bool) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)
    if figurative:  # flagged, so a model-only alarm on the same words is vetoed too
        assert result.figurative and _vetoes(result), text


REAL_THREATS_LIKE_SPORT = [
    "je vais les tuer ce soir à la sortie du lycée",
    "on va tous les buter demain au bahut",
    "ce soir on va les tuer devant le lycée",
    "je vais les massacrer au match avec mon couteau",
    "je vais les égorger un par un ce soir",
    "jvais tous les buter à la sortie des cours",
    "on va les tuer ce soir au match avec le flingue de mon frère",
    "i'm gonna slaughter them at the mosque on friday",
    "we're going to kill them all at school tomorrow",
    "gonna slaughter them at the game with my dad's gun",
]


@pytest.mark.parametrize("text", REAL_THREATS_LIKE_SPORT)
def test_real_threats_with_sport_like_wording_still_fire(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == "violence_intent", (text, result.hits)


# ----------------------------------------------------------------------------- loader: pattern_rules
def _minimal(rules: Optional[dict] = None, fig: bool = False) -> dict:
    def lang_block(prefix: str, lang: str) -> dict:
        out: dict = {"patterns": [{"id": f"{prefix}-{lang}-001", "re": f"{prefix} {lang}"}]}
        if prefix == "vi" and lang == "en":
            out["patterns"].append({"id": "vi-en-002", "re": "goes first"})
            if fig:
                out["figurative"] = [{"id": "vi-en-fig-001", "re": "vi en"}]
        return out

    data = {
        "version": 1,
        "reviewed": {"by": "t", "date": "2026-01-01"},
        "negations": {"en": ["not"], "fr": ["pas"]},
        "categories": {
            "violence_intent": {"en": lang_block("vi", "en"), "fr": lang_block("vi", "fr")},
            "self_harm": {"en": lang_block("sh", "en"), "fr": lang_block("sh", "fr")},
            "travel_intent": {"en": lang_block("ti", "en"), "fr": lang_block("ti", "fr")},
        },
    }
    if rules is not None:
        data["pattern_rules"] = rules
    return data


def test_loader_validates_pattern_rules() -> None:
    ok = CrisisLexicon.from_dict(_minimal({"requires": {"vi-en-002": "self_harm"}}))
    assert ok.assess("goes first").hit is None
    assert ok.assess("sh en, goes first").hit.category == "violence_intent"
    plain = CrisisLexicon.from_dict(_minimal())
    assert plain.assess("goes first").hit.category == "violence_intent"
    for bad in (
        {"requires": {"vi-en-002": "violence_intent"}},  # its own category
        {"requires": {"vi-en-999": "self_harm"}},  # unknown id
        {"self_target": ["vi-en-002"]},  # not a self-harm pattern
        {"unless": {"vi-en-002": "x"}},  # guards are for figurative entries
        {"other": []},
    ):
        with pytest.raises(LexiconError):
            CrisisLexicon.from_dict(_minimal(bad, fig=True))
    with pytest.raises(LexiconError):
        CrisisLexicon.from_dict(_minimal({"unless": {"vi-en-fig-001": "("}}, fig=True))
    guarded = CrisisLexicon.from_dict(_minimal({"unless": {"vi-en-fig-001": r"\bknife\b"}}, fig=True))
    assert guarded.assess("vi en").figurative and guarded.assess("vi en").hit is None
    assert guarded.assess("vi en with a knife").hit.category == "violence_intent"


def test_self_target_drops_violence_only_nearby() -> None:
    lex = CrisisLexicon.from_dict(_minimal({"self_target": ["sh-en-001"]}))
    assert lex.assess("vi en, sh en").categories == ("self_harm",)
    assert lex.assess("vi en sh en").categories == ("self_harm",)
    assert set(lex.assess("vi en. blah. sh en").categories) == {"violence_intent", "self_harm"}
