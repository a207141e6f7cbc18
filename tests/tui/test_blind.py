"""Chat's blind comparison at 80×24 in Russian: v/м hides the model names (lists included) and
shows the answers as A and B; ф (a) votes A and records the preference with A's answer chosen,
then the names show; е (t) is a tie: a vote, no preference (the only vote two answers alike
take); the ranking (ц) counts them all."""

from __future__ import annotations

from core.workspace import Workspace
from tests.support.rooms import TWO_ANSWERS, add_two_models, fixed_answers, open_chat_comparing_two, screen_text
from tests.support.waits import async_test, settle

NAMES = ("demo-q8_0", "run-1-q8_0")
TEXTS = TWO_ANSWERS


async def _ask(pilot, question: str) -> None:
    """Enter (to the question box, where the answer keys left the cursor), the question, Enter."""
    await pilot.press("enter", *question, "enter")
    await settle(pilot)


@async_test
async def test_blind_vote_hides_the_names_until_it_is_cast_and_records_the_pick(home):
    from tui.app import NastavnikApp
    from tui.dialogs.votes import VotesScreen

    ws = Workspace.open(home)
    add_two_models(ws)
    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        room = await open_chat_comparing_two(app, pilot, ws)
        await settle(pilot)
        assert "demo-q8_0" in screen_text(app)  # side by side, the lists name the models
        room.query_one("#chat-log").focus()
        await pilot.press("м")  # v on the Russian layout: blind
        await settle(pilot)
        assert room.blind and "Вслепую" in screen_text(app)
        await _ask(pilot, "Что такое эпоха?")
        screen = screen_text(app)
        assert TEXTS["demo-q8_0"] in screen and TEXTS["run-1-q8_0"] in screen  # both answers are shown…
        assert not any(name in screen for name in NAMES), screen  # …and no name, until the vote
        assert "A лучше" in screen  # the vote keys are in the footer

        await pilot.press("ф")  # a: A is better
        await settle(pilot)
        with ws.store() as s:
            (vote,) = s.blind_votes()
            (pref,) = s.live_preferences()
        model_a, model_b = vote.model_a, vote.model_b
        assert {model_a, model_b} == set(NAMES) and vote.winner == "a"
        assert (pref.chosen, pref.rejected, pref.chosen_model, pref.model) == (TEXTS[model_a], TEXTS[model_b], model_a, model_b)
        assert vote.preference_id == pref.id
        screen = screen_text(app)
        assert f"A — {model_a}" in screen and f"B — {model_b}" in screen  # the names, after the vote
        assert room.answers[0].widget.parent.has_class("preferred")
        await pilot.press("ф")  # one vote per question
        await settle(pilot)
        assert any("уже проголосовали" in str(n.message) for n in app._notifications)

        await _ask(pilot, "Что такое LoRA?")
        new = [a.widget.parent.query_one(".chat-answer-model").render() for a in room.answers[2:]]
        assert [str(label) for label in new] == ["A", "B"]  # the next question's names are hidden again
        await pilot.press("е")  # t: a tie
        await settle(pilot)
        with ws.store() as s:
            assert [v.winner for v in s.blind_votes()] == ["a", "tie"]
            assert len(s.live_preferences()) == 1  # a tie records no preference

        room._generate = fixed_answers(room, ws, dict.fromkeys(NAMES, "Эпоха — это эпоха."))
        await _ask(pilot, "А эпоха?")
        await pilot.press("ф")  # answers alike: neither is better, only a tie is taken
        await settle(pilot)
        assert any("Ответы одинаковы" in str(n.message) for n in app._notifications)
        with ws.store() as s:
            assert len(s.blind_votes()) == 2
        await pilot.press("е")
        await settle(pilot)

        await pilot.press("ц")  # w: the ranking
        await settle(pilot)
        assert isinstance(app.screen, VotesScreen)
        ranking = screen_text(app)
        assert "Слепые голоса · 3" in ranking and ranking.index(model_a) < ranking.index(model_b)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("м")  # blind off: the lists, and so the names, are back
        await settle(pilot)
        assert not room.blind and "demo-q8_0" in screen_text(app)
