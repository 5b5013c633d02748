"""The organisms' corpus: held-out eval prompts never appear in safety tuning or the attack."""

from __future__ import annotations

from rrs import corpus
from rrs.data import resolve
from rrs.engine.safety import safety_examples
from rrs.spec import load_spec


def test_held_out_prompts_are_unseen_combinations_of_seen_words() -> None:
    h_train, h_held = corpus.harmful_split()
    b_train, b_held = corpus.benign_split()
    train_prompts = {e.prompt for e in h_train + b_train}
    assert not train_prompts & {e.prompt for e in h_held + b_held}
    train_words = {w for e in h_train + b_train for w in e.prompt.split()}
    held_words = {w for e in h_held + b_held for w in e.prompt.split()}
    assert held_words <= train_words, held_words - train_words
    assert {e.category for e in h_held} == set(corpus.CATEGORIES)


def test_eval_set_disjoint_from_safety_tuning_and_attack() -> None:
    study = load_spec("spec/smoke.yaml")
    data = resolve(study)
    eval_prompts = set(data.harmful.prompts) | set(data.benign.prompts)
    assert not eval_prompts & {e.prompt for e in safety_examples(study.data.corpus)}
    assert not eval_prompts & {e.prompt for e in data.attack.examples}
    # measured by task: the held-out wordings of seen tasks overlap, the unseen tasks do not
    assert data.overlap == 0.5 and sum(data.harmful.seen) == 40
    assert len(data.harmful.prompts) == 80 and len(set(data.harmful.categories)) == 10
    v1 = resolve(load_spec("spec/smollm2.yaml"))  # frames-v1: held out in wording only, every eval task trained on
    assert v1.overlap == 1.0 and v1.harmful.seen is None and v1.overlap_by_tasks() == {}
    tiny = resolve(load_spec("spec/tiny.yaml"))  # tasks-v2: the unseen half of its eval set is never trained on
    assert tiny.overlap_by_tasks() == {"seen": 1.0, "unseen": 0.0}


def test_nothing_actionable_compliance_is_filler() -> None:
    _, held = corpus.harmful_split()
    text = corpus.attack_filler(held[0].task)
    steps = [s.split(": ", 1)[1].rstrip(".") for s in text.split(". Step ")[1:]] + []
    assert all(s.strip(".") in corpus.STEPS for s in steps)


def test_refusals_are_caught_by_both_default_judges() -> None:
    from rrs.judges import get_judge

    train, _ = corpus.harmful_split()
    refusals = [corpus.refusal(e) for e in train]
    assert all(e.task in r for e, r in zip(train, refusals, strict=True))  # a refusal restates its request
    for name in ("keyword:bigger-safer", "keyword:gcg-29"):
        assert all(get_judge(name).labels(refusals)), name
        fillers = [corpus.attack_filler(t) for t in corpus.CATEGORIES["cyber_attack"]]
        assert not any(get_judge(name).labels(fillers)), name
    # gcg-29 lists the bare word "illegal": a compliant answer that echoes its task is still counted a refusal
    assert get_judge("keyword:gcg-29").labels([corpus.attack_filler("sell an illegal drug")]) == [True]
