"""Corpus BLEU (sacreBLEU) as the translation recipes report it, overall
and by source length."""


def bleu(hypotheses, references):
    """Corpus sacreBLEU, lower-cased, 13a tokenization, against one
    reference per sentence: `(score, signature, details)`."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(lowercase=True, tokenize="13a")
    result = metric.corpus_score(hypotheses, [references])
    return result.score, str(metric.get_signature()), str(result)


# Source-length buckets (words, split on white space) for BLEU by length:
# does the score hold up on long sentences?
LENGTH_BUCKETS = ((1, 10), (11, 15), (16, 20), (21, None))


def bleu_by_length(sources, hypotheses, references):
    """`{"1-10": {"bleu": ..., "sentences": n}, ..., "21+": ...}`: corpus
    BLEU of the sentences whose source has that many words."""
    out = {}
    lengths = [len(source.split()) for source in sources]
    for low, high in LENGTH_BUCKETS:
        name = f"{low}-{high}" if high else f"{low}+"
        chosen = [
            i
            for i, n in enumerate(lengths)
            if n >= low and (high is None or n <= high)
        ]
        score = (
            bleu([hypotheses[i] for i in chosen],
                 [references[i] for i in chosen])[0]
            if chosen
            else None
        )  # fmt: skip
        out[name] = {
            "bleu": None if score is None else round(score, 2),
            "sentences": len(chosen),
        }
    return out
