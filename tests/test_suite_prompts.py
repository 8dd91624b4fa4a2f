"""The rendered prompt of one item per task: few-shot formatting, CoT exemplars, Chinese templates."""
from __future__ import annotations

import pytest

from lm_eval_tasks.evaluate import task_manager

TRIVIAQA = ("Question: Which planet is known as the Red Planet?\nAnswer: Mars\n\n"
            "Question: What is the capital city of Australia?\nAnswer: Canberra\n\n"
            "Question: Who wrote the play Romeo and Juliet?\nAnswer: William Shakespeare\n\n"
            "Question: What is the largest ocean on Earth?\nAnswer: Pacific Ocean\n\n"
            "Question: In which country is the city of Kyoto?\nAnswer: Japan\n\n"
            "Question: Which element has the atomic number 1?\nAnswer:")
TOM = ("Article: Tom lives in a small town near the sea. Every morning he walks his dog along the beach before school. "
       "He likes the quiet and the sound of the waves.")
LIBRARY = ("Article: The library opens at nine o'clock. Students may borrow three books for two weeks. "
           "Books that come back late cost ten cents a day.")
RACE = (f"{TOM}\n\nQuestion: Where does Tom walk his dog?\nAnswer: Along the beach\n\n"
        f"{LIBRARY}\n\nQuestion: How many books can a student borrow?\nAnswer: Three\n\n"
        f"{LIBRARY}\n\nQuestion: When does the library open?\nAnswer:")
MMLU = ("The following are multiple choice questions (with answers) about elementary mathematics.\n\n"
        "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer: B\n\n"
        "What is 10 / 2?\nA. 2\nB. 5\nC. 8\nD. 20\nAnswer: B\n\n"
        "Which number is prime?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer: C\n\n"
        "What is 3 x 3?\nA. 6\nB. 9\nC. 12\nD. 33\nAnswer: B\n\n"
        "What is 15 - 7?\nA. 6\nB. 7\nC. 8\nD. 9\nAnswer: C\n\n"
        "What is 7 x 8?\nA. 54\nB. 56\nC. 58\nD. 64\nAnswer:")
CEVAL = ("以下是中国关于高中数学考试的单项选择题，请选出其中的正确答案。\n\n"
         "1 + 1 等于多少？\nA. 1\nB. 2\nC. 3\nD. 4\n答案：B\n\n"
         "2 x 3 等于多少？\nA. 5\nB. 6\nC. 7\nD. 8\n答案：B\n\n"
         "10 - 4 等于多少？\nA. 4\nB. 5\nC. 6\nD. 7\n答案：C\n\n"
         "9 / 3 等于多少？\nA. 3\nB. 4\nC. 5\nD. 6\n答案：A\n\n"
         "5 + 5 等于多少？\nA. 8\nB. 9\nC. 10\nD. 11\n答案：C\n\n"
         "3 + 4 等于多少？\nA. 6\nB. 7\nC. 8\nD. 9\n答案：")
KBQA = ("问题：《机械设计基础》这本书的作者是谁？\n答案：杨可桢，程光蕴，李仲生\n\n问题：长城位于哪个国家？\n答案：中国\n\n"
        "问题：《红楼梦》的作者是谁？\n答案：曹雪芹\n\n问题：《西游记》的作者是谁？\n答案：")
C3 = ("男：你今天怎么来得这么早？\n女：我想早点把工作做完。\n问题：女的为什么来得早？\n答案：想早点完成工作\n\n"
      "我家门口有一家面包店，每天早上都很香。\n问题：面包店在哪里？\n答案：我家门口\n\n"
      "男：这件衣服多少钱？\n女：一百块，打八折。\n问题：这件衣服打折后多少钱？\n答案：")
CLOZET_PREFIX = "一只猫望着窗外飞翔的鸟儿馋涎欲滴，但自己又捕捉不到。于是它便想了一个法子。它给那些鸟儿们寄去请柬，邀请他们来参加自己的生日宴会。"
CLOZET_SUFFIX = "鸟儿一进来，猫就关上了门。鸟儿们彻底入了虎穴，被猫一只一只抓来吃掉了。"

# task -> [(context, continuation)] of the first item, or the generation context.
EXPECTED = {
    "es_triviaqa": TRIVIAQA,
    "es_hellaswag": [("Roof shingle removal: A man is sitting on a roof. He", " is using wrap to wrap a pair of skis."),
                     ("Roof shingle removal: A man is sitting on a roof. He", " is ripping level tiles off."),
                     ("Roof shingle removal: A man is sitting on a roof. He", " is holding a rubik's cube."),
                     ("Roof shingle removal: A man is sitting on a roof. He", " starts pulling up roofing on a roof.")],
    "es_race": [(RACE, " At eight"), (RACE, " At nine"), (RACE, " At ten"), (RACE, " At noon")],
    "es_winogrande": [("Sarah was a much better surgeon than Maria so Sarah", " always got the harder cases."),
                      ("Sarah was a much better surgeon than Maria so Maria", " always got the harder cases.")],
    "es_mmlu": [(MMLU, " A"), (MMLU, " B"), (MMLU, " C"), (MMLU, " D")],
    "es_nlpcc_kbqa": KBQA,
    "es_clozet": [(CLOZET_PREFIX + "可是没有一只鸟儿愿意来。", CLOZET_SUFFIX), (CLOZET_PREFIX + "有些单纯的鸟儿赴宴来了。", CLOZET_SUFFIX)],
    "es_cluewsc": [("小明把书借给了小红，因为他已经读完了。\n问题：句子中的“他”指的是“小明”吗？\n答案：", "是"),
                   ("小明把书借给了小红，因为他已经读完了。\n问题：句子中的“他”指的是“小明”吗？\n答案：", "否")],
    "es_c3": [(C3, "一百块"), (C3, "八十块"), (C3, "五十块"), (C3, "二十块")],
    "es_ceval": [(CEVAL, "A"), (CEVAL, "B"), (CEVAL, "C"), (CEVAL, "D")],
}


@pytest.fixture(scope="module")
def first_requests():
    import os

    from tests.conftest import SUITE_FIXTURES

    os.environ["EMERGENT_SUITE_DATA"] = str(SUITE_FIXTURES)
    try:
        tasks = task_manager().load(list(EXPECTED) + ["es_gsm8k", "es_gsm8k_zh"])["tasks"]
        out = {}
        for key, task in tasks.items():
            task.build_all_requests(limit=1, rank=0, world_size=1)
            out[getattr(key, "name", str(key))] = [inst.arguments for inst in task.instances]
        return out
    finally:
        del os.environ["EMERGENT_SUITE_DATA"]


@pytest.mark.parametrize("task", list(EXPECTED))
def test_rendered_prompt(first_requests, task):
    got = first_requests[task]
    want = EXPECTED[task]
    if isinstance(want, str):  # generative: one request, (context, generation settings)
        assert len(got) == 1 and got[0][0] == want
    else:
        assert [tuple(args) for args in got] == want


def test_gsm8k_chain_of_thought_exemplars(first_requests):
    (context, settings), = first_requests["es_gsm8k"]
    shots = context.split("\n\n")
    assert len(shots) == 9  # 8 exemplars and the question
    assert shots[0].startswith("Q: There are 15 trees in the grove.") and shots[0].endswith("The answer is 6.")
    assert [s.rsplit("The answer is ", 1)[1] for s in shots[:8]] == ["6.", "5.", "39.", "8.", "9.", "29.", "33.", "8."]
    assert shots[8] == ("Q: Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
                        "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
                        "per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nA:")
    assert settings["until"][:2] == ["Q:", "\n\n"] and settings["do_sample"] is False


def test_gsm8k_chinese_exemplars(first_requests):
    (context, _), = first_requests["es_gsm8k_zh"]
    shots = context.split("\n\n")
    assert len(shots) == 9
    assert shots[0] == ("问题：树林里有15棵树。林业工人今天要在树林里种树。种完之后，树林里将有21棵树。林业工人今天种了多少棵树？\n"
                        "回答：原来有15棵树。种了一些之后有21棵树。所以一定种了21 - 15 = 6棵。答案是 6。")
    assert [s.rsplit("答案是 ", 1)[1] for s in shots[:8]] == ["6。", "5。", "39。", "8。", "9。", "29。", "33。", "8。"]
    assert shots[8].startswith("问题：珍妮特的鸭子每天下16个蛋。") and shots[8].endswith("\n回答：")
