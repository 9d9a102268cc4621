"""Stance of a match: did it happen (event), is it planned, denied, delayed, or old news?

Owns the cue lists (English, German, French, Spanish, Portuguese) and the rule that turns
the cues found near the matched terms into one stance. Pure: a function of the entry's
tokens, the hits, the known-fact hits and the entry's date. The cue lists are documented in
``docs/watchlist.md``; ``stance_cues:`` in ``watchlist.yaml`` adds to them.

Rule, first that applies:

1. the entry is dated before ``settings.thesis_date``                    -> restatement
2. a denial cue near a hit                                               -> denial
3. a delay cue near a hit                                                -> delay
4. a known fact matched and no event cue near a hit outside those facts  -> restatement
5. a plan cue near a hit, and it is nearer the hits than any event cue   -> plan
6. an event cue near a hit                                               -> event
7. an analysis/opinion cue (a column restating what is known)            -> restatement
8. otherwise                                                             -> event

"Near" means in the same field within ``window`` words; every cue in the title counts
(headlines are short and carry the verb).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from monitor.match import Doc, Hit, StanceRules, Term

STANCES = ("event", "plan", "denial", "delay", "restatement")

# Cue phrases; a trailing * is a prefix. Folded like everything else (accents optional).
# fmt: off
DEFAULT_CUES: dict[str, tuple[str, ...]] = {
    "event": (
        # en
        "launched", "launches", "rolled out", "rolls out", "rolling out", "now available",
        "available now", "is available", "are available", "became available", "arrives",
        "arrived", "ships", "shipped", "released", "releases", "goes live", "went live",
        "is live", "expands", "expanded", "expanding", "brings", "brought", "adds", "added",
        "opens", "opened", "came online", "comes online", "online", "energized", "switched on",
        "turned on", "reported", "reports", "posted", "grew", "rose", "jumped", "climbed",
        "increased", "raised", "raises", "cut", "cuts", "lowered", "lifted", "beat",
        "published", "publishes", "ranks", "ranked", "scored", "scores", "tops", "topped",
        "found", "finds", "tested", "evaluated", "debuts", "debuted", "unveils", "unveiled",
        "generally available", "general availability", "starts", "started", "begins",
        "began", "reaches", "reached", "hits", "signed", "signs", "completed", "completes",
        "powers", "powered by", "now runs", "now uses", "upgraded", "upgrades", "gets",
        "got", "deployed", "deploys", "open-sourced", "open-sources", "priced", "used",
        "places", "placed", "now live", "live in",
        # de
        "startet", "gestartet", "eingeführt", "führt ein", "verfügbar", "ausgerollt",
        "rollt aus", "bringt", "erweitert", "veröffentlicht", "erhöht", "senkt", "gesenkt",
        "angehoben", "meldet", "gemeldet", "stieg", "steigt", "gestiegen", "in Betrieb",
        "ans Netz", "erreicht", "testet", "getestet", "bewertet", "landet", "kommt auf",
        "bekommt", "erhält",
        # fr
        "lance", "lancé", "lancée", "déploie", "déployé", "déployée", "disponible",
        "disponibles", "arrive", "arrivé", "arrivée", "étend", "publie", "publié", "relève",
        "relevé", "abaisse", "annonce des", "a atteint", "atteint", "en service", "testé",
        "évalué", "intègre", "intégré",
        # es
        "lanza", "lanzó", "lanzado", "despliega", "desplegado", "disponible", "llega",
        "llegó", "amplía", "amplió", "publica", "publicó", "eleva", "elevó", "recorta",
        "recortó", "alcanza", "alcanzó", "en funcionamiento", "evaluado", "probado",
        "publicado", "publicada", "sitúa", "queda",
        "integra", "integró",
        # pt
        "lança", "lançou", "lançado", "chega", "chegou", "disponível", "disponíveis",
        "libera", "liberou", "amplia", "ampliou", "publica", "publicou", "eleva", "elevou",
        "corta", "cortou", "atinge", "atingiu", "em operação", "testado", "avaliado",
        "integra", "integrou",
    ),
    "plan": (
        # en
        "plans", "plans to", "planning", "planned", "will", "would", "to launch", "to bring",
        "to release", "to roll out", "to open", "expected", "expects", "is expected",
        "set to", "poised to", "in talks", "talks", "reportedly", "preparing", "prepares",
        "considering", "considers", "weighs", "weighing", "could", "might",
        "aims to", "intends", "hopes to", "later this year", "coming soon", "soon",
        "upcoming", "next year", "roadmap", "rumor*", "rumour*", "leak*", "sources say",
        "according to people", "exploring", "explores", "eyes", "eyeing", "mulls",
        "working on", "in the works", "forthcoming", "will be",
        # de
        "plant", "geplant", "will", "soll", "sollen", "werden", "wird", "erwartet",
        "voraussichtlich", "bald", "angeblich", "Gerüchte", "bereitet vor", "erwägt",
        "prüft", "in Gesprächen", "demnächst", "künftig",
        # fr
        "prévoit", "prévu", "prévue", "va", "vont", "devrait", "devraient", "pourrait",
        "bientôt", "prépare", "envisage", "en discussions", "selon des sources", "rumeur*",
        "à venir", "projette",
        # es
        "planea", "prevé", "previsto", "prevista", "va a", "podría", "pronto", "prepara",
        "estudia", "en conversaciones", "según fuentes", "rumor*", "próximamente",
        # pt
        "planeja", "prevê", "previsto", "prevista", "vai", "deve", "poderá", "poderia",
        "em breve", "prepara", "estuda", "em negociações", "segundo fontes", "rumor*",
    ),
    "denial": (
        # en
        "denies", "denied", "deny", "no plans", "not planning", "has no plans",
        "rules out", "ruled out", "dismisses", "dismissed", "rejects", "rejected",
        "cancels", "cancelled", "canceled", "scraps", "scrapped", "abandons", "abandoned",
        "shelves", "shelved", "kills", "killed", "won't", "will not", "not open-source",
        "not open source", "no intention", "false report", "refutes",
        # de
        "dementiert", "bestreitet", "keine Pläne", "schließt aus", "ausgeschlossen",
        "gestoppt", "eingestellt", "abgesagt", "verworfen",
        # fr
        "dément", "démenti", "dément les", "pas de projet", "aucun projet", "exclut",
        "annule", "annulé", "abandonne", "abandonné", "renonce",
        # es
        "niega", "negó", "desmiente", "desmintió", "no planea", "descarta", "descartó",
        "cancela", "canceló", "cancelado", "abandona",
        # pt
        "nega", "negou", "desmente", "desmentiu", "não planeja", "descarta", "descartou",
        "cancela", "cancelou", "cancelado", "abandona",
    ),
    "delay": (
        # en
        "delays", "delayed", "delay", "postpones", "postponed", "pushed back",
        "pushes back", "slips", "slipped", "held back", "holds back", "pauses", "paused",
        "on hold", "behind schedule", "later than planned", "not yet", "still not",
        "still no", "still without",
        # de
        "verzögert", "Verzögerung", "verschoben", "verschiebt", "aufgeschoben",
        "pausiert", "später als geplant", "noch nicht", "noch kein", "noch immer nicht",
        # fr
        "retarde", "retardé", "retard", "reporte", "reporté", "repoussé", "repousse",
        "suspendu", "pas encore", "toujours pas",
        # es
        "retrasa", "retrasó", "retraso", "pospone", "pospuso", "aplaza", "aplazó",
        "aplazado", "suspende", "todavía no", "aún no", "sigue sin",
        # pt
        "adia", "adiou", "adiado", "atrasa", "atrasou", "atraso", "suspende", "suspendeu",
        "ainda não", "ainda sem",
    ),
    "restatement": (
        # Columns and explainers that revisit what was known.
        "what it means", "why it matters", "explained", "explainer", "analysis",
        "opinion", "op-ed", "column", "recap", "look back", "looking back", "lessons",
        "review:", "hands-on", "we tried", "a month after", "weeks after", "since its launch",
        "since launch", "at launch", "launched in April", "April launch", "what we know",
        "launched last month", "launch in April", "lanzado en abril", "lançado em abril",
        "lancé en avril", "im April gestartet", "lancement d'avril",
        "everything we know", "Kommentar", "Analyse", "Meinung", "Rückblick",
        "analyse", "tribune", "éditorial", "décryptage", "análisis", "opinión", "columna",
        "análise", "opinião", "coluna",
    ),
}
# fmt: on


@dataclass(frozen=True, slots=True)
class Stance(StanceRules):
    """Compiled cue lists and the rule in the module docstring."""

    cues: tuple[tuple[str, tuple[Term, ...]], ...]
    thesis_date: date | None = None
    window: int = 8

    @classmethod
    def build(
        cls,
        extra: Mapping[str, Sequence[str]] | None = None,
        thesis_date: date | None = None,
        window: int = 8,
    ) -> Stance:
        out = []
        for name in STANCES:
            words = list(DEFAULT_CUES[name]) + list((extra or {}).get(name, ()))
            terms = []
            for w in dict.fromkeys(words):
                try:
                    terms.append(Term.parse(w))
                except ValueError:
                    continue
            out.append((name, tuple(terms)))
        return cls(tuple(out), thesis_date, window)

    def _near(
        self, doc: Doc, name: str, hits: Sequence[Hit], skip: Sequence[Hit] = ()
    ) -> tuple[int, str] | None:
        """The nearest cue of stance ``name`` to the hits, as (distance, cue text).

        Cues overlapping a span of ``skip`` do not count ("launched" in "launched in April").
        """
        terms = self._present(doc, name)
        anchors = [h for h in hits if h[2] >= 0]
        best: tuple[int, str] | None = None
        for term in terms:
            for text, fname, s, e in doc.occurrences(term):
                if any(f == fname and s < ke and ks < e for _, f, ks, ke in skip):
                    continue
                for _, hf, hs, he in anchors:
                    if hf != fname:
                        continue
                    if s < he and hs < e:
                        continue  # the cue is the hit itself ("Spark launches" vs "launches")
                    gap = hs - e if e <= hs else s - he
                    if fname == "title" or gap <= self.window:
                        d = gap if fname != "title" else min(gap, self.window)
                        if best is None or d < best[0]:
                            best = (d, text)
        return best

    def _present(self, doc: Doc, name: str) -> list[Term]:
        """The cues of ``name`` whose first word is in the entry (the rest cannot occur)."""
        return [
            t
            for t in dict(self.cues)[name]
            if (t.prefix and len(t.tokens) == 1) or t.tokens[0] in doc.vocabulary
        ]

    def _occurrences(self, doc: Doc, name: str) -> list[Hit]:
        return [h for term in self._present(doc, name) for h in doc.occurrences(term)]

    def classify(
        self, doc: Doc, hits: Sequence[Hit], known: Sequence[Hit], published: datetime | None
    ) -> tuple[str, str]:
        if self.thesis_date and published and published.date() < self.thesis_date:
            return "restatement", f"dated before the thesis date {self.thesis_date}"
        for name in ("denial", "delay"):
            found = self._near(doc, name, hits)
            if found:
                return name, f"cue {found[1]!r}"
        old_news = self._occurrences(doc, "restatement")
        event = self._near(doc, "event", hits, old_news)
        if known:
            fresh = [
                h
                for h in hits
                if not any(f == h[1] and h[2] < ke and ks < h[3] for _, f, ks, ke in known)
            ]
            fresh_event = self._near(doc, "event", fresh, old_news) if fresh else None
            if not fresh_event:
                facts = ", ".join(dict.fromkeys(h[0] for h in known))
                return "restatement", f"only known facts ({facts})"
        plan = self._near(doc, "plan", hits)
        if plan and (event is None or plan[0] < event[0]):
            return "plan", f"cue {plan[1]!r}"
        if event:
            return "event", f"cue {event[1]!r}"
        found = self._near(doc, "restatement", hits)
        if found:
            return "restatement", f"cue {found[1]!r}"
        return "event", "no stance cue"
