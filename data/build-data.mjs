// Regenerates PeftSharp's bundled datasets from the @stdlib dataset packages.
// Usage: node data/build-data.mjs <dir with the extracted npm packs>   (see scripts/make-data.sh)
// Deterministic: a fixed-seed PRNG chooses samples and splits.
import fs from 'node:fs';
import path from 'node:path';

const root = process.argv[2];
const out = path.dirname(new URL(import.meta.url).pathname);
if (!root) { console.error('usage: node build-data.mjs <packages dir>'); process.exit(1); }

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function shuffle(items, random) {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
  return a;
}
const clean = (s) => s.replace(/\s+/g, ' ').trim();
function writeSplits(name, records) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const split of ['train', 'validation', 'test']) {
    const lines = records.filter((r) => r.split === split).map((r) => JSON.stringify({ text: r.text, label: r.label }));
    fs.writeFileSync(path.join(dir, `${split}.jsonl`), lines.join('\n') + '\n');
    console.log(`${name}/${split}.jsonl: ${lines.length} records`);
  }
}
function writeJsonl(name, records, shape) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const split of ['train', 'validation', 'test']) {
    const lines = records.filter((r) => r.split === split).map((r) => JSON.stringify(shape(r)));
    fs.writeFileSync(path.join(dir, `${split}.jsonl`), lines.join('\n') + '\n');
    console.log(`${name}/${split}.jsonl: ${lines.length} records`);
  }
}
function splitOf(i, n) { return i < 0.7 * n ? 'train' : i < 0.85 * n ? 'validation' : 'test'; }

// --- spam: SpamAssassin emails, subject + body, spam vs ham (hard ham kept) -------------------
{
  const random = mulberry32(20261122);
  const base = path.join(root, 'spam', 'package', 'data');
  const groups = { 'spam-1': 'spam', 'spam-2': 'spam', 'easy-ham-1': 'ham', 'easy-ham-2': 'ham', 'hard-ham-1': 'ham' };
  const take = { 'spam-1': 500, 'spam-2': 500, 'easy-ham-1': 450, 'easy-ham-2': 300, 'hard-ham-1': 250 };
  const records = [];
  for (const [group, label] of Object.entries(groups)) {
    const files = shuffle(fs.readdirSync(path.join(base, group)).filter((f) => f.endsWith('.json')).sort(), random).slice(0, take[group]);
    for (const file of files) {
      const mail = JSON.parse(fs.readFileSync(path.join(base, group, file), 'utf8')).text;
      const split = mail.indexOf('\n\n');
      const headers = split < 0 ? mail : mail.slice(0, split);
      const subject = (headers.match(/^Subject:(.*)$/mi) || ['', ''])[1];
      const body = (split < 0 ? '' : mail.slice(split + 2)).replace(/<[^>]*>/g, ' ');
      const text = clean(`${clean(subject)} ${body}`).slice(0, 1200);
      if (text.length >= 20) records.push({ text, label, group });
    }
  }
  const shuffled = shuffle(records, random);
  for (const label of ['spam', 'ham']) {
    const ofLabel = shuffled.filter((r) => r.label === label);
    ofLabel.forEach((r, i) => { r.split = splitOf(i, ofLabel.length); });
  }
  writeSplits('spam', shuffled);
}

// --- sotu-era: State of the Union passages labelled by era; whole speeches go to one split ------
{
  const random = mulberry32(1790);
  const base = path.join(root, 'sotu', 'package', 'data');
  const eras = [[1790, 1829, 'founding'], [1830, 1860, 'antebellum'], [1861, 1900, 'gilded-age'],
    [1901, 1945, 'progressive-and-wars'], [1946, 1991, 'cold-war'], [1992, 2100, 'modern']];
  const eraOf = (year) => eras.find(([a, b]) => year >= a && year <= b)[2];
  const speeches = fs.readdirSync(base).filter((f) => /^\d{4}_.*\.json$/.test(f)).sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(base, f), 'utf8')));
  const records = [];
  for (const [, , era] of eras) {
    const ofEra = shuffle(speeches.filter((s) => eraOf(s.year) === era), random);
    ofEra.forEach((speech, i) => {
      const split = splitOf(i, ofEra.length);
      const sentences = clean(speech.text).match(/[^.!?]+[.!?]+["')\]]*\s*/g) || [];
      const passages = [];
      let current = '';
      for (const sentence of sentences) {
        current += sentence;
        if (current.length >= 350) { passages.push(current.trim()); current = ''; }
      }
      for (const p of shuffle(passages, random).slice(0, 12)) records.push({ text: p.slice(0, 700), label: era, split });
    });
  }
  const capped = [];
  for (const [, , era] of eras) {
    for (const split of ['train', 'validation', 'test']) {
      const cap = split === 'train' ? 420 : 90;
      capped.push(...shuffle(records.filter((r) => r.label === era && r.split === split), random).slice(0, cap));
    }
  }
  const final = shuffle(capped, random);
  writeSplits('sotu-era', final);

  // The same passages and splits as a conversation: the question as the user's turn, the era as the assistant's answer.
  const question = '\n\nWhich era of American history is this State of the Union passage from? ' +
    `Answer with one of: ${eras.map(([, , e]) => e).join(', ')}.`;
  writeJsonl('sotu-era-chat', final, (r) => ({ messages: [{ role: 'user', content: r.text + question }, { role: 'assistant', content: r.label }] }));
}

// --- corpus: Moby Dick for masked-LM pretraining ----------------------------------------------
{
  const base = path.join(root, 'moby-dick', 'package', 'data');
  const order = ['etymology', 'extracts', ...Array.from({ length: 135 }, (_, i) => `chapter_${i + 1}`), 'epilogue'];
  const text = order.filter((n) => fs.existsSync(path.join(base, `${n}.json`)))
    .map((n) => clean(JSON.parse(fs.readFileSync(path.join(base, `${n}.json`), 'utf8')).text)).join('\n');
  fs.mkdirSync(path.join(out, 'corpus'), { recursive: true });
  fs.writeFileSync(path.join(out, 'corpus', 'moby-dick.txt'), text + '\n');
  console.log(`corpus/moby-dick.txt: ${text.length} characters`);
}

// --- g2p: grapheme-to-phoneme from the CMU Pronouncing Dictionary -------------------------------
// Words of 3-12 letters (A-Z only) with a single pronunciation; stress digits removed; each word in
// exactly one split. Prompt: the word in lower case and " ->"; completion: the phonemes, space-separated.
{
  const random = mulberry32(1993);
  const dict = JSON.parse(fs.readFileSync(path.join(root, 'cmudict', 'package', 'data', 'dict.json'), 'utf8'));
  const alternates = new Set(Object.keys(dict).filter((k) => /\(\d+\)$/.test(k)).map((k) => k.replace(/\(\d+\)$/, '')));
  const words = Object.keys(dict).filter((w) => /^[A-Z]{3,12}$/.test(w) && !alternates.has(w)).sort();
  const chosen = shuffle(words, random).slice(0, 7000);
  const records = chosen.map((w, i) => ({
    word: w.toLowerCase(),
    phonemes: dict[w].split(' ').map((p) => p.replace(/\d$/, '')).join(' '),
    split: i < 6000 ? 'train' : i < 6500 ? 'validation' : 'test',
  }));
  writeJsonl('g2p', records, (r) => ({ prompt: `${r.word} ->`, completion: ` ${r.phonemes}` }));

  // A pronouncing dictionary for the bundled decoder's pretraining, as real LLMs have seen such
  // dictionaries: every word the g2p split drew from except the g2p validation and test words,
  // 40 entries a line as "word: PH ON EMES;" -- not the fine-tuning format "word -> PH ON EMES".
  const heldOut = new Set(records.filter((r) => r.split !== 'train').map((r) => r.word.toUpperCase()));
  const entries = shuffle(words.filter((w) => !heldOut.has(w)), random)
    .map((w) => `${w.toLowerCase()}: ${dict[w].split(' ').map((p) => p.replace(/\d$/, '')).join(' ')};`);
  const lines = [];
  for (let i = 0; i < entries.length; i += 40) lines.push(entries.slice(i, i + 40).join(' '));
  fs.writeFileSync(path.join(out, 'corpus', 'pronunciations.txt'), lines.join('\n') + '\n');
  console.log(`corpus/pronunciations.txt: ${entries.length} entries in ${lines.length} lines`);
}
