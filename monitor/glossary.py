"""A compact multilingual news glossary: DE/FR/ES/PT/IT words onto English ones. Pure data.

Dictionary-based cross-language retrieval (Hull and Grefenstette 1996; Ballesteros and
Croft 1997): translate each word through a bilingual dictionary and compare the
translations. Here the dictionary is small and written by hand from general business,
technology and news vocabulary (figures and magnitudes, countries and regions, common
verbs of news headlines, products and markets), not from any labelled set. Keys are folded
(lower case, no accents, as ``match.tokenize`` gives them); values are English words. A word
that is not listed is kept as it is. English words are not listed: they already are what
the others map to.

``translate(token)`` is the whole interface.
"""

from __future__ import annotations

# One line per English word: "english: variant variant ...", variants folded, with their
# common inflections written out (a lookup, not a stemmer).
_GLOSSARY_TEXT = """
billion: milliard milliards milliarde milliarden mrd miliardo miliardi bilhao bilhoes
million: millionen mio millones millon milhao milhoes milione milioni
trillion: billionen billones billon trilhao trilhoes trillon trillones bilione
thousand: tausend mille mil mila migliaia milhares
percent: prozent pourcent porcentaje porcentagem cento percento
dollar: dollars dolares dolar dollari
euro: euros
half: halbe moitie mitad metade
year: jahr jahres jahren annee annees ans anno anni ano anos
month: monat monats monate mois mes meses mese mesi
week: woche wochen semaine semaines semana semanas settimana settimane
day: tag tage tagen jour jours dia dias giorno giorni
quarter: quartal quartals trimestre trimestres trimestrale
first: erste ersten erster premier premiere primer primera primeiro primo prima
second: zweite zweiten deuxieme segundo segunda secondo seconda
third: dritte dritten troisieme tercer tercero terceiro terceira terzo terza
fourth: vierte vierten quatrieme cuarto quarto quarta
record: rekord rekordhoch recorde historique historico historica storico storica
europe: europa europe europaischen europaische europaischer europeen europeenne europeens
europe: europeo europea europeos europeas europeu europeia europei europee european
eu: ue
commission: kommission comision comissao commissione
china: chine cina chinesische chinesischen chinois chinoise chino china chines cinese cinesi
germany: deutschland allemagne alemania alemanha germania deutsche deutschen allemand
france: frankreich francia franca francais francaise franzosische franzosischen
spain: spanien espagne espana espanha spagna
italy: italien italie italia
india: indien inde
brazil: brasilien bresil brasil brasile brasileiro brasileira brasileiros brasiliano
japan: japon japao giappone
us: usa eeuu ee uu etats unis etatsunis stati uniti estados unidos amerikanische
us: americain americaine estadounidense americano americana
uk: grossbritannien royaume reino unido regno
russia: russland russie rusia
korea: korea coree corea coreia
brussels: brussel bruxelles bruselas bruxelas
launch: lance lancent lancement lanza lanzan lanzamiento lanca lancam
launch: lancamento lancia lanciano lancio
unveil: stellt vorgestellt presente presentado presenta presentou presentato presentata
unveil: devoile devoilent desvela revela svela
release: veroffentlicht publie publica publicou pubblica rilascia
introduce: fuhrt einfuhrung introduit introduce introduz introduce
expand: erweitert weitet etend elargit amplia expande estende
cut: streicht kurzt supprime suppression recorta recortes corta taglia tagli
layoff: entlassungen stellenabbau licenciements despidos demissoes licenziamenti
job: stellen arbeitsplatze postes emplois empleos puestos empregos vagas posti lavoro
employee: mitarbeiter mitarbeitende salaries employes empleados trabajadores funcionarios
employee: dipendenti lavoratori
fine: strafe geldstrafe bussgeld milliardenstrafe amende multa multas sancion sanzione
fine: inflige multe
appeal: berufung klagen klagt klage recours appel recurrir recurre recorrer ricorso
appeal: recorrera recorrera recurrira impugna impugnera appels
investigate: ermittelt ermittlungen untersucht untersuchung enquete enquetent investiga
investigate: investigacion investigacao indaga indagine
probe: prufung prufen
ban: verbietet verbot untersagt interdit interdiction prohibe prohibicion proibe proibicao
ban: vieta divieto
order: ordnet anordnung ordonne ordena ordem ordina
court: gericht gerichts tribunal tribunale corte
regulator: regulierer regulierungsbehorde regulateur regulador reguladora regolatore
regulator: aufsicht aufsichtsbehorde autorite autoridad autoridade autorita
lawsuit: klage proces demanda processo
ads: werbung anzeigen werbeanzeigen publicite publicites publicidad anuncios anuncio
ads: publicidade anuncio pubblicita annunci inserzioni
advertising: werbemarkt werbegeschaft
glasses: brille brillen lunettes gafas oculos occhiali
headset: headset casque casco visore
chip: chips puce puces procesador procesadores processador processadores processore
chip: halbleiter semiconducteurs semiconductores semicondutores semiconduttori
model: modell modelle modellen modele modeles modelo modelos modello modelli
assistant: assistent assistenten assistente assistentes asistente asistentes
app: anwendung application applications aplicacion aplicacao aplicativo applicazione
user: nutzer nutzern nutzerinnen benutzer utilisateur utilisateurs usuario usuarios
user: utilizador utilizadores utente utenti
message: nachricht nachrichten direktnachrichten messages mensaje mensajes mensagem
message: mensagens messaggio messaggi
subscription: abo abonnement abonnements suscripcion assinatura abbonamento
price: preis preise prix precio precios preco precos prezzo prezzi
share: aktie aktien titre acciones accion acoes acao azioni azione titolo
stock: borse borsennotiert bourse bolsa borsa
market: markt markte marche marches mercado mercados mercato mercati
value: wert bewertung valeur valorisation valor valoracion valutazione
earnings: quartalszahlen geschaftszahlen resultats resultados risultati conti bilan
revenue: umsatz umsatze erlos chiffre ingresos facturacion receita faturamento ricavi
revenue: fatturato
profit: gewinn benefice beneficio beneficios lucro utile profitto
growth: wachstum croissance crecimiento crescimento crescita
rise: steigt steigen steigert hausse augmente progresse sube suben aumenta cresce
rise: salgono
fall: fallt sinkt verliert rutscht baisse chute recule cae caen cai queda
fall: scende cala scivola crolla
jump: springt bondit bondi dispara disparo salta balzo
forecast: prognose ausblick prevision previsions prevision previsiones previsao
forecast: previsoes previsione previsioni
estimate: erwartungen schatzungen attentes estimations estimaciones expectativas
estimate: estimativas stime attese
beat: ubertrifft depasse supera superan superou
investment: investitionen investition investissement investissements inversion
investment: inversiones investimento investimentos investimenti
spend: ausgaben depenses gastos gasto spese
data: daten donnees datos dados dati
center: zentrum rechenzentrum rechenzentren centre centro
outage: outages storung storungen ausfall ausfalle panne pannes caida interruption fora interruzione disservizio
privacy: datenschutz confidentialite vie privee privacidad privacidade
children: kinder kindern enfants ninos menores criancas bambini minori
teen: jugendliche teenager adolescents adolescentes adolescenti ragazzi
age: alter age edad idade eta
company: unternehmen konzern firma entreprise groupe empresa compania azienda societa
company: gruppo
deal: vereinbarung einigung accord acuerdo acordo accordo intesa
buy: kauft ubernimmt kauf achete rachete rachat compra adquiere adquisicion adquire
buy: acquista acquisizione
sell: verkauft verkauf vend vendu vende vendas ventes ventas vendite vendute
sales: absatz verkaufe verkaufszahlen
open: offen offene offenen offenes ouvert ouverte ouverts abierto abierta abiertos
open: aberto aberta abertos aperto aperta aperti
new: neu neue neuen neuer nouveau nouvelle nouveaux nuevo nueva nuevos novo novos
new: nuovo nuova nuovi
weapons: waffen armes armas armi
security: sicherheit securite seguridad seguranca sicurezza
agreement: abkommen
phone: handy smartphone telephone telefono telefone
video: videos video
image: bild bilder image images imagen imagenes imagem imagens immagine immagini
search: suche suchmaschine recherche busqueda busca ricerca
deny: dementiert dementi niega nega smentisce
plan: plant plans planea planeja pianifica
delay: verschiebt verschoben verzogerung repousse reporte retrasa retraso adia adiamento
delay: rinvia rinviata rinviate rinvio
pause: pausiert pausa
stop: stoppt arrete detiene suspende suspender sospende
raise: hebt erhoht leve relevement eleva aumenta alza alzate
funding: finanzierung finanzierungsrunde levee financement financiacion financiamento
funding: finanziamento
valuation: bewertung valorisation valoracion valuation valutazione
artificial: kunstliche kunstlicher artificielle artificial artificiale
intelligence: intelligenz intelligence inteligencia inteligencia intelligenza
ai: ki ia
start: startet starten beginnt commence commencent debute comienza empieza comeca inicia
start: inizia avvia
show: zeigt zeigen affiche afficher affichera montre muestra mostrar mostra mostrare
name: namen nom noms nombre nombres nome nomi
username: nutzername nutzernamen benutzername
number: nummer telefonnummer numero numeros
everyone: alle tous todos todas tutti
world: welt weltweit monde mondial mondiale mundo mundial mondo mondiale globalmente
global: globale globales
country: land pays pais paese
government: regierung gouvernement gobierno governo
law: gesetz loi ley lei legge
rule: regel regeln regle regles regla reglas regra regras regola regole
win: gewinnt gagne remporte gana vence vince
lose: verliert perd pierde perde
weight: gewichte poids pesos pesi
return: kehrt retour revient vuelve volta regresa torna ritorna
community: gemeinschaft communaute communautes comunidad comunidades comunidade comunita
channel: kanal kanale chaine chaines canal canales canais canale canali
free: kostenlos gratuit gratuite gratuito gratuita gratis
paid: bezahlt payant pagado pago pagamento
high: hoch hohe haut alto alta
risk: risiko risque riesgo risco rischio
child: kind
hour: stunde stunden heure heures hora horas ora ore
minute: minuten minutes minuto minutos minuti
talk: gesprache gesprach discussions negociations conversaciones negociaciones conversas
talk: trattative colloqui
stake: beteiligung anteil participation participacion participacao partecipazione quota
chief: chef chefe capo
executive: manager dirigeant directivo dirigente
leave: verlasst quitte deja deixa lascia
hire: stellt ein recrute contrata assume
report: bericht rapport informe relatorio rapporto
warn: warnt avertit alerte advierte alerta avverte
critic: kritik critique critiques critica criticas
lawmaker: abgeordnete parlamentarier deputes legisladores parlamentari
parliament: parlament parlement parlamento
sellout: ausverkauft epuise epuises agota agotan agotado esgota esgotado esgotados esaurito esauriti
election: wahl wahlen election elections eleccion elecciones eleicao eleicoes elezioni
"""


def _build() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in _GLOSSARY_TEXT.strip().splitlines():
        english, _, variants = line.partition(":")
        for v in variants.split():
            table.setdefault(v, english.strip())
    return table


GLOSSARY: dict[str, str] = _build()


def translate(token: str) -> str:
    """The English word for a folded token, or the token itself."""
    return GLOSSARY.get(token, token)
