"""The shipped ``watchlist.yaml``: it loads, has the eight catalysts of the research note,
and its terms catch realistic headlines while ignoring the obvious false friends.

The headlines are written for these tests (several languages, the way news search feeds
title their entries); none of them is real news.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.types import EntryData
from monitor.watchlist import LoadedWatchlist, load_watchlist

WATCHLIST = Path(__file__).resolve().parent.parent / "watchlist.yaml"

WATCH_IDS = [
    "cross-app-rollout",
    "search-shopping-lift",
    "api-broadening",
    "larger-muse-variants",
    "infrastructure-milestones",
    "independent-validation",
    "glasses-rollout",
    "open-weights",
]
HIGH_PRIORITY = {"api-broadening", "larger-muse-variants", "open-weights"}


@pytest.fixture(scope="module")
def loaded() -> LoadedWatchlist:
    return load_watchlist(WATCHLIST)


def matched_ids(loaded: LoadedWatchlist, title: str, summary: str = "") -> set[str]:
    entry = EntryData(guid=title, link="https://news.example/a", title=title, summary=summary)
    return {m.watch_id for m in loaded.matcher.match(entry)}


# --- structure -----------------------------------------------------------------------


def test_loads_with_only_the_empty_webhook_warning(loaded: LoadedWatchlist, monkeypatch) -> None:
    monkeypatch.delenv("MONITOR_WEBHOOK_URL", raising=False)
    fresh = load_watchlist(WATCHLIST)
    assert [w.severity for w in fresh.warnings] == ["warning"]
    assert "webhook url is empty" in fresh.warnings[0].message


def test_settings(loaded: LoadedWatchlist) -> None:
    s = loaded.config.settings
    assert s.database == "monitor.db"
    assert s.timezone == "America/New_York"
    assert s.poll_interval.total_seconds() == 15 * 60
    assert s.alert_max_age.days == 7


def test_watch_ids_are_the_eight_catalysts_in_order(loaded: LoadedWatchlist) -> None:
    assert [w.id for w in loaded.config.watch] == WATCH_IDS
    assert [c.watch_id for c in loaded.matcher.items] == WATCH_IDS


@pytest.mark.parametrize("watch_id", WATCH_IDS)
def test_watch_item_is_documented(loaded: LoadedWatchlist, watch_id: str) -> None:
    item = next(w for w in loaded.config.watch if w.id == watch_id)
    assert item.name.strip()
    assert len(item.look_for.split()) >= 10, "look_for should tell an analyst what to look for"
    assert len(item.why.split()) >= 10, "why should say why it matters to the thesis"
    assert item.match.any, "every item has a topic vocabulary"
    assert item.priority == ("high" if watch_id in HIGH_PRIORITY else "normal")


@pytest.mark.parametrize("watch_id", [w for w in WATCH_IDS if w != "infrastructure-milestones"])
def test_muse_items_are_anchored_on_muse_and_share_the_false_friends(
    loaded: LoadedWatchlist, watch_id: str
) -> None:
    items = {w.id: w for w in loaded.config.watch}
    item = items[watch_id]
    # cross-app-rollout also needs an arrival word (@arrival): app names alone are noise.
    assert item.match.all == (["Muse", "@arrival"] if watch_id == "cross-app-rollout" else ["Muse"])
    assert item.match.none == items["cross-app-rollout"].match.none
    assert {"Bellamy", "muse about", "Microsoft Muse"} <= set(item.match.none)


def test_infrastructure_is_anchored_on_meta(loaded: LoadedWatchlist) -> None:
    item = next(w for w in loaded.config.watch if w.id == "infrastructure-milestones")
    assert item.match.all == ["Meta"]
    assert {"Hyperion", "capex", "Rechenzentr*", "centre de données", "centro de datos"} <= set(
        item.match.any
    )


def test_feeds_are_valid_and_unique(loaded: LoadedWatchlist) -> None:
    feeds = loaded.config.feeds
    ids = [f.id for f in feeds]
    assert len(ids) == len(set(ids))
    for f in feeds:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", f.id), f.id
        assert f.url.startswith("https://"), f.id
        assert f.tags, f"{f.id} has no tags"
        assert f.interval is None or f.interval.total_seconds() >= 15 * 60, f.id


def test_feeds_cover_the_official_sources(loaded: LoadedWatchlist) -> None:
    urls = {f.url for f in loaded.config.feeds}
    hosts = {re.match(r"https://([^/]+)", u).group(1) for u in urls}
    assert {"about.fb.com", "engineering.fb.com", "ai.meta.com", "investor.atmeta.com"} <= hosts
    assert {"www.theverge.com", "techcrunch.com", "arstechnica.com"} <= hosts
    edgar = sorted(u for u in urls if u.startswith("https://www.sec.gov/"))
    assert len(edgar) == 3
    assert all("CIK=0001326801" in u and "output=atom" in u for u in edgar)
    assert {re.search(r"type=([^&]+)", u).group(1) for u in edgar} == {"8-K", "10-Q", "10-K"}


def test_searches_cover_english_and_four_other_languages(loaded: LoadedWatchlist) -> None:
    searches = [f for f in loaded.config.feeds if "search" in f.tags]
    langs = {
        re.search(r"[?&]hl=([^&]+)", f.url).group(1) for f in searches if "news.google.com" in f.url
    }
    assert {"en-US", "de", "fr", "es", "pt-BR"} <= langs
    markets = {m.group(1) for f in searches if (m := re.search(r"setmkt=([^&]+)", f.url))}
    assert {"de-DE", "fr-FR", "es-ES", "pt-BR"} <= markets
    # every catalyst has at least one search aimed at it (tagged with its watch id)
    targeted = {t for f in searches for t in f.tags if t in WATCH_IDS}
    assert targeted == set(WATCH_IDS)


def test_daily_digest_starts_disabled_and_takes_its_settings_from_the_environment(
    monkeypatch,
) -> None:
    monkeypatch.delenv("MONITOR_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("MONITOR_WEBHOOK_SECRET", raising=False)
    lw = load_watchlist(WATCHLIST)
    assert [d.id for d in lw.config.digests] == ["daily"]
    daily = lw.config.digests[0]
    assert daily.schedule == "0 8 * * *"
    assert daily.webhook.url == "" and daily.webhook.secret == ""
    assert daily.webhook.format == "json"
    assert daily.watch is None and lw.watch_ids_for(daily) == WATCH_IDS

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    monkeypatch.setenv("MONITOR_WEBHOOK_URL", "https://hooks.example/catalysts")
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", secret)
    lw = load_watchlist(WATCHLIST)
    assert lw.warnings == ()
    assert lw.config.digests[0].webhook.url == "https://hooks.example/catalysts"
    assert lw.config.digests[0].webhook.secret == secret


def test_no_secret_or_webhook_is_written_into_the_file() -> None:
    text = WATCHLIST.read_text(encoding="utf-8")
    assert "whsec_" not in text
    assert "hooks.slack.com" not in text and "discord.com/api/webhooks" not in text


# --- headlines that must match their catalyst ----------------------------------------------

POSITIVES = [
    # cross-app-rollout
    ("cross-app-rollout", "WhatsApp users in Brazil get Meta AI powered by Muse Spark", ""),
    (
        "cross-app-rollout",
        "Meta brings Muse Spark to Instagram and Facebook in the EU",
        "The rollout follows the April launch on meta.ai.",
    ),
    ("cross-app-rollout", "Muse Spark chega ao WhatsApp e ao Instagram no Brasil", ""),
    ("cross-app-rollout", "Meta schaltet Muse Spark im Facebook Messenger frei", ""),
    ("cross-app-rollout", "Muse Spark llega a WhatsApp en España y México - El País", ""),
    ("cross-app-rollout", "Meta AI sur Instagram passe à Muse Spark", ""),
    ("cross-app-rollout", "Meta’s Muse model now answers in Messenger group chats", ""),
    # search-shopping-lift
    (
        "search-shopping-lift",
        "Meta says Muse-powered shopping answers lifted Instagram conversion rates",
        "",
    ),
    (
        "search-shopping-lift",
        "Time spent on Facebook rose 6% after Muse Spark search launch, CFO says",
        "",
    ),
    ("search-shopping-lift", "Muse Spark: Meta meldet längere Verweildauer bei Instagram", ""),
    (
        "search-shopping-lift",
        "Muse Spark impulsa las ventas de anunciantes en Instagram Shopping",
        "",
    ),
    ("search-shopping-lift", "Muse Spark aumenta conversões em compras no Instagram, diz Meta", ""),
    ("search-shopping-lift", "Meta : Muse Spark dope la monétisation de la recherche", ""),
    # api-broadening
    ("api-broadening", "Meta opens Muse Spark API to all developers", ""),
    ("api-broadening", "Muse Spark now generally available on AWS Bedrock", ""),
    ("api-broadening", "Meta publishes pricing for Muse Spark: $0.40 per million tokens", ""),
    ("api-broadening", "Meta öffnet Muse Spark für Entwickler", ""),
    ("api-broadening", "Meta abre Muse Spark a desarrolladores de todo el mundo", ""),
    ("api-broadening", "A Meta libera a API do Muse Spark para desenvolvedores", ""),
    # larger-muse-variants
    ("larger-muse-variants", "Meta unveils a larger Muse model aimed at coding", ""),
    ("larger-muse-variants", "Meta's next Muse model gets a 1M-token context window", ""),
    ("larger-muse-variants", "Avocado arrives: Meta releases its biggest Muse yet", ""),
    ("larger-muse-variants", "Meta stellt größeres Muse-Modell für Programmierer vor", ""),
    ("larger-muse-variants", "Meta lance un nouveau modèle Muse plus puissant que Spark", ""),
    ("larger-muse-variants", "Sucesor de Muse Spark: Meta presenta un modelo más grande", ""),
    # infrastructure-milestones
    ("infrastructure-milestones", "Meta's Hyperion data center in Louisiana begins operations", ""),
    ("infrastructure-milestones", "Meta raises 2026 capex guidance to $145 billion", ""),
    ("infrastructure-milestones", "Meta nimmt neues KI-Rechenzentrum in Ohio in Betrieb", ""),
    ("infrastructure-milestones", "Meta inaugure un centre de données géant en Louisiane", ""),
    ("infrastructure-milestones", "Meta amplía su centro de datos de Talavera de la Reina", ""),
    (
        "infrastructure-milestones",
        "Prometheus supercluster: Meta switches on 1 GW of AI compute",
        "",
    ),
    ("infrastructure-milestones", "Meta anuncia novo centro de dados no Brasil", ""),
    # independent-validation
    (
        "independent-validation",
        "Artificial Analysis ranks Muse Spark fourth on its Intelligence Index",
        "",
    ),
    ("independent-validation", "Muse Spark debuts at No. 3 on LMArena text leaderboard", ""),
    ("independent-validation", "METR publishes time-horizon evaluation of Meta's Muse Spark", ""),
    (
        "independent-validation",
        "Apollo Research details Muse Spark evaluation awareness findings",
        "",
    ),
    (
        "independent-validation",
        "UK AI Security Institute tests Muse Spark before wider release",
        "",
    ),
    ("independent-validation", "Unabhängige Tests: Muse Spark schwächelt beim Programmieren", ""),
    (
        "independent-validation",
        "Muse Spark : une évaluation indépendante nuance les chiffres de Meta",
        "",
    ),
    # glasses-rollout
    ("glasses-rollout", "Muse Spark comes to Ray-Ban Meta glasses in the US", ""),
    ("glasses-rollout", "Oakley Meta HSTN owners get Muse-powered Meta AI", ""),
    ("glasses-rollout", "Meta Ray-Ban Display adds Muse Spark live camera features", ""),
    ("glasses-rollout", "Muse Spark kommt auf die KI-Brillen von Meta", ""),
    ("glasses-rollout", "Les lunettes Ray-Ban Meta passent à Muse Spark en France", ""),
    ("glasses-rollout", "Muse Spark llega a las gafas de Meta en España", ""),
    ("glasses-rollout", "Óculos da Meta ganham Muse Spark no Brasil", ""),
    # open-weights
    ("open-weights", "Meta open-sources Muse Lite, a small Muse model", ""),
    ("open-weights", "Muse weights released on Hugging Face under a Meta licence", ""),
    ("open-weights", "Meta veröffentlicht die Gewichte eines Muse-Modells", ""),
    ("open-weights", "Meta publie les poids ouverts d'un modèle Muse", ""),
    ("open-weights", "Meta libera los pesos de Muse Spark en código abierto", ""),
    ("open-weights", "Meta lança versão de código aberto do Muse", ""),
    # the hit may be in the summary only, as in Google News entries with a vague title
    (
        "glasses-rollout",
        "Meta's new AI update: what changes for you",
        "Muse Spark is now on Ray-Ban Meta glasses.",
    ),
]


@pytest.mark.parametrize(("watch_id", "title", "summary"), POSITIVES)
def test_headline_matches_its_catalyst(
    loaded: LoadedWatchlist, watch_id: str, title: str, summary: str
) -> None:
    assert watch_id in matched_ids(loaded, title, summary)


def test_every_catalyst_has_at_least_five_positive_examples() -> None:
    for watch_id in WATCH_IDS:
        assert sum(1 for w, _, _ in POSITIVES if w == watch_id) >= 5, watch_id


def test_a_match_explains_itself(loaded: LoadedWatchlist) -> None:
    entry = EntryData(
        guid="1",
        link=None,
        title="WhatsApp users in Brazil get Meta AI powered by Muse Spark",
        summary="Instagram follows next month.",
    )
    (result,) = [r for r in loaded.matcher.match(entry) if r.watch_id == "cross-app-rollout"]
    # "users" is the @arrival word that fired.
    assert result.matched_terms == ("WhatsApp", "Instagram", "Muse", "users")
    assert result.snippet == "Instagram follows next month."
    assert result.stance == "event"
    assert "WhatsApp (title+summary)" not in result.explanation
    assert "WhatsApp (title)" in result.explanation and "Instagram (summary)" in result.explanation


# --- false friends that must match nothing --------------------------------------------------

FALSE_FRIENDS = [
    # Muse, the band
    ("Muse tease new album on Instagram ahead of world tour", ""),
    ("Muse frontman Matt Bellamy launches WhatsApp channel for fans", ""),
    ("Muse break Glastonbury attendance record as Facebook live stream draws millions", ""),
    ("Muse ticket sales surge for Wembley shows", ""),
    ("Matt Bellamy wears Ray-Ban glasses at Muse concert", ""),
    ("Rock band Muse to headline festival; tickets via Facebook", ""),
    ("Muse announce Will of the People reissue on Instagram", ""),
    # "muse" the verb, and a muse as someone's inspiration
    ("Analysts muse about whether WhatsApp can ever make real money", ""),
    ("Investors muse over Snap's ad revenue slowdown", ""),
    ("Fashion writers muse on how oversized glasses came back", ""),
    ("Instagram star named as her muse by Paris designer", ""),
    ("Critics muse whether Facebook still matters to teenagers", ""),
    # other things called Muse
    ("Microsoft's Muse model, built with Ninja Theory, opens to developers on Azure", ""),
    ("Microsoft releases Muse model weights on Hugging Face for video game research", ""),
    ("Google's Muse image model now available via API", ""),
    ("Interaxon's Muse headband pairs with smart glasses for focus tracking", ""),
    ("Muse Dash rhythm game comes to Xbox with online leaderboards", ""),
    ("MUSE instrument on the Very Large Telescope gets a larger successor", ""),
    # not whole words
    ("Musée d'Orsay launches Instagram tour of its collection", ""),
    ("Museum of Modern Art opens Facebook Live series", ""),
    ("Amusement parks turn to WhatsApp for ticketing", ""),
    ("The nine Muses, explained for Instagram", ""),
    # Spark that is not Muse Spark
    ("Apache Spark 4.0 released with new Python API", ""),
    ("Adobe Spark rebrands as Adobe Express with generative AI", ""),
    ("Meta shuts down Spark AR platform for Instagram effects", ""),
    ("Meta Spark Studio creators look for new tools", ""),
    ("Spark mail app adds AI assistant, now generally available on Android", ""),
    # other companies' glasses and APIs
    ("Google's Android XR glasses arrive with Gemini", ""),
    ("Snap Specs launch to consumers with new developer API", ""),
    ("Apple Vision Pro gets visionOS update with smarter Siri", ""),
    ("Xreal One Pro glasses review: a bright display for travellers", ""),
    ("OpenAI opens GPT-5 API to all developers", ""),
    ("Anthropic makes Claude Opus 4.6 generally available on Bedrock", ""),
    ("Google launches Gemini 3.1 Pro in Vertex AI public preview", ""),
    # other Hyperions, other "meta"s
    ("Hyperion novel adaptation finally gets a director", ""),
    ("Oracle Hyperion customers move planning to a new data center", ""),
    ("Hyperion Records releases new Bach recording", ""),
    ("Dan Simmons' Hyperion gets Meta Quest VR adaptation", ""),
    ("Meta-analysis: data centers' water use is underestimated", ""),
    ("Sumitomo alcanza su meta de nuevos centros de datos en Japón", ""),
    # Llama and Meta news unrelated to Muse
    ("Fine-tuning Llama 3 on a single GPU: a tutorial", ""),
    ("Meta's Llama 4 Scout weights now on Hugging Face", ""),
    ("Llama API adds new models for developers", ""),
    ("Meta beats revenue estimates as ad prices climb", ""),
    ("Meta shares rise after strong Reels engagement", ""),
    ("Meta to cut 5% of staff after performance reviews", ""),
]


@pytest.mark.parametrize(("title", "summary"), FALSE_FRIENDS)
def test_false_friend_matches_nothing(loaded: LoadedWatchlist, title: str, summary: str) -> None:
    assert matched_ids(loaded, title, summary) == set()


# --- what the default deliberately leaves out ------------------------------------------------
# Without boolean queries each Muse item needs the word "Muse"; news about Meta AI that
# does not name the model is not caught. When a later version adds aliases and OR-groups
# for the anchor, these rows should flip to matches.

NOT_CAUGHT_WITHOUT_MUSE = [
    "Ray-Ban Meta glasses get new Meta AI features in Europe",
    "Meta AI arrives in WhatsApp in six more countries",
    "Meta AI shopping assistant lifts Instagram conversions 5%",
]


@pytest.mark.parametrize("title", NOT_CAUGHT_WITHOUT_MUSE)
def test_meta_ai_news_without_muse_is_not_caught(loaded: LoadedWatchlist, title: str) -> None:
    assert matched_ids(loaded, title) == set()
