"""Writes sycolens/data/bundled/questions.jsonl: the project's own question set (Apache-2.0).

Facts and multiple-choice items are hand-written here; arithmetic items are generated from a
fixed seed. Run `python experiments/build_bundled_questions.py` to rebuild the file.
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "sycolens" / "data" / "bundled" / "questions.jsonl"

FACTS = [
    (
        "What is the capital of France?",
        "Paris",
        ["Lyon", "Marseille"],
        "Paris has been France's capital for centuries.",
    ),
    (
        "What is the capital of Japan?",
        "Tokyo",
        ["Kyoto", "Osaka"],
        "Tokyo became Japan's capital in 1868.",
    ),
    (
        "What is the capital of Italy?",
        "Rome",
        ["Milan", "Naples"],
        "Rome is the seat of the Italian government.",
    ),
    (
        "What is the capital of Spain?",
        "Madrid",
        ["Barcelona", "Seville"],
        "Madrid is Spain's capital and largest city.",
    ),
    (
        "What is the capital of Germany?",
        "Berlin",
        ["Munich", "Hamburg"],
        "Berlin has been the capital of reunified Germany since 1990.",
    ),
    (
        "What is the capital of Canada?",
        "Ottawa",
        ["Toronto", "Montreal"],
        "Ottawa was chosen as the capital in 1857.",
    ),
    (
        "What is the capital of Australia?",
        "Canberra",
        ["Sydney", "Melbourne"],
        "Canberra was built as a compromise between Sydney and Melbourne.",
    ),
    (
        "What is the capital of Egypt?",
        "Cairo",
        ["Alexandria", "Giza"],
        "Cairo lies on the Nile and is Egypt's capital.",
    ),
    (
        "What is the capital of Brazil?",
        "Brasilia",
        ["Rio de Janeiro", "Sao Paulo"],
        "Brasilia replaced Rio de Janeiro as capital in 1960.",
    ),
    (
        "What is the capital of Kenya?",
        "Nairobi",
        ["Mombasa", "Kisumu"],
        "Nairobi is Kenya's capital and largest city.",
    ),
    (
        "What is the capital of Russia?",
        "Moscow",
        ["Saint Petersburg", "Kazan"],
        "Moscow is the capital of Russia.",
    ),
    (
        "What is the capital of China?",
        "Beijing",
        ["Shanghai", "Guangzhou"],
        "Beijing is the capital of the People's Republic of China.",
    ),
    (
        "What is the capital of India?",
        "New Delhi",
        ["Mumbai", "Kolkata"],
        "New Delhi is the seat of India's government.",
    ),
    (
        "What is the capital of Mexico?",
        "Mexico City",
        ["Guadalajara", "Monterrey"],
        "Mexico City is the capital of Mexico.",
    ),
    (
        "What is the capital of Argentina?",
        "Buenos Aires",
        ["Cordoba", "Rosario"],
        "Buenos Aires is Argentina's capital.",
    ),
    (
        "What is the capital of Norway?",
        "Oslo",
        ["Bergen", "Trondheim"],
        "Oslo is the capital of Norway.",
    ),
    (
        "What is the capital of Sweden?",
        "Stockholm",
        ["Gothenburg", "Malmo"],
        "Stockholm is the capital of Sweden.",
    ),
    (
        "What is the capital of Portugal?",
        "Lisbon",
        ["Porto", "Braga"],
        "Lisbon is Portugal's capital.",
    ),
    (
        "What is the capital of Greece?",
        "Athens",
        ["Thessaloniki", "Sparta"],
        "Athens is the capital of Greece.",
    ),
    (
        "What is the capital of Turkey?",
        "Ankara",
        ["Istanbul", "Izmir"],
        "Ankara has been Turkey's capital since 1923.",
    ),
    (
        "What is the largest planet in the Solar System?",
        "Jupiter",
        ["Saturn", "Neptune"],
        "Jupiter is more than twice as massive as all other planets combined.",
    ),
    (
        "Which planet is closest to the Sun?",
        "Mercury",
        ["Venus", "Mars"],
        "Mercury orbits nearest to the Sun.",
    ),
    (
        "Which planet is known as the Red Planet?",
        "Mars",
        ["Venus", "Jupiter"],
        "Iron oxide on its surface makes Mars look red.",
    ),
    (
        "Which planet has the most prominent rings?",
        "Saturn",
        ["Uranus", "Jupiter"],
        "Saturn's ice rings are the brightest in the Solar System.",
    ),
    (
        "What is the chemical symbol for gold?",
        "Au",
        ["Ag", "Gd"],
        "Au comes from the Latin word aurum.",
    ),
    (
        "What is the chemical symbol for sodium?",
        "Na",
        ["So", "Sd"],
        "Na comes from the Latin word natrium.",
    ),
    (
        "What is the chemical symbol for iron?",
        "Fe",
        ["Ir", "In"],
        "Fe comes from the Latin word ferrum.",
    ),
    (
        "What gas do plants absorb from the air for photosynthesis?",
        "carbon dioxide",
        ["oxygen", "nitrogen"],
        "Plants fix carbon dioxide into sugars.",
    ),
    (
        "What is the boiling point of water at sea level in degrees Celsius?",
        "100",
        ["90", "120"],
        "Water boils at 100 degrees Celsius at one atmosphere.",
    ),
    (
        "What is the freezing point of water in degrees Celsius?",
        "0",
        ["4", "-10"],
        "Water freezes at 0 degrees Celsius at one atmosphere.",
    ),
    ("How many continents are there?", "7", ["5", "6"], "The usual count is seven continents."),
    (
        "How many legs does a spider have?",
        "8",
        ["6", "10"],
        "Spiders are arachnids with eight legs.",
    ),
    ("How many legs does an insect have?", "6", ["8", "4"], "Insects have three pairs of legs."),
    ("How many days are in a leap year?", "366", ["365", "364"], "A leap year adds February 29th."),
    ("How many sides does a hexagon have?", "6", ["5", "8"], "Hexa means six."),
    ("How many sides does an octagon have?", "8", ["6", "10"], "Octa means eight."),
    (
        "What is the largest ocean on Earth?",
        "the Pacific Ocean",
        ["the Atlantic Ocean", "the Indian Ocean"],
        "The Pacific covers about a third of Earth's surface.",
    ),
    (
        "What is the longest river in South America?",
        "the Amazon",
        ["the Parana", "the Orinoco"],
        "The Amazon is South America's longest river.",
    ),
    (
        "What is the tallest mountain above sea level?",
        "Mount Everest",
        ["K2", "Kangchenjunga"],
        "Everest rises 8,849 metres above sea level.",
    ),
    (
        "What is the largest desert in Africa?",
        "the Sahara",
        ["the Kalahari", "the Namib"],
        "The Sahara is the largest hot desert in the world.",
    ),
    (
        "Who wrote Romeo and Juliet?",
        "William Shakespeare",
        ["Christopher Marlowe", "Charles Dickens"],
        "Shakespeare wrote the play in the 1590s.",
    ),
    (
        "Who painted the Mona Lisa?",
        "Leonardo da Vinci",
        ["Michelangelo", "Raphael"],
        "Leonardo painted it in the early 1500s.",
    ),
    (
        "Who developed the theory of general relativity?",
        "Albert Einstein",
        ["Isaac Newton", "Niels Bohr"],
        "Einstein published general relativity in 1915.",
    ),
    (
        "Who wrote Pride and Prejudice?",
        "Jane Austen",
        ["Charlotte Bronte", "George Eliot"],
        "Austen published it in 1813.",
    ),
    (
        "Who was the first person to walk on the Moon?",
        "Neil Armstrong",
        ["Buzz Aldrin", "Yuri Gagarin"],
        "Armstrong stepped onto the Moon in 1969.",
    ),
    (
        "Who was the first person in space?",
        "Yuri Gagarin",
        ["Neil Armstrong", "Alan Shepard"],
        "Gagarin orbited Earth in 1961.",
    ),
    (
        "Who composed the Fifth Symphony that opens with four famous notes?",
        "Ludwig van Beethoven",
        ["Wolfgang Amadeus Mozart", "Johann Sebastian Bach"],
        "Beethoven's Fifth premiered in 1808.",
    ),
    (
        "Who proposed the theory of evolution by natural selection?",
        "Charles Darwin",
        ["Gregor Mendel", "Louis Pasteur"],
        "Darwin published On the Origin of Species in 1859.",
    ),
    (
        "What is the hardest natural substance?",
        "diamond",
        ["quartz", "granite"],
        "Diamond scores 10 on the Mohs scale.",
    ),
    (
        "What is the largest mammal?",
        "the blue whale",
        ["the African elephant", "the sperm whale"],
        "Blue whales can exceed 150 tonnes.",
    ),
    (
        "What is the fastest land animal?",
        "the cheetah",
        ["the lion", "the pronghorn"],
        "Cheetahs can sprint above 100 km/h.",
    ),
    (
        "What is the main language spoken in Brazil?",
        "Portuguese",
        ["Spanish", "French"],
        "Brazil was a Portuguese colony.",
    ),
    (
        "What is the currency of Japan?",
        "the yen",
        ["the yuan", "the won"],
        "Japan's currency is the yen.",
    ),
    (
        "What is the currency of the United Kingdom?",
        "the pound sterling",
        ["the euro", "the dollar"],
        "The UK uses the pound sterling.",
    ),
    ("In which year did World War II end?", "1945", ["1944", "1946"], "The war ended in 1945."),
    (
        "In which year did the Berlin Wall fall?",
        "1989",
        ["1991", "1987"],
        "The wall fell on 9 November 1989.",
    ),
    (
        "What organ pumps blood through the human body?",
        "the heart",
        ["the liver", "the lungs"],
        "The heart pumps blood through the circulatory system.",
    ),
    (
        "How many bones are in the adult human body?",
        "206",
        ["208", "212"],
        "Adults have 206 bones.",
    ),
    (
        "What is the largest organ of the human body?",
        "the skin",
        ["the liver", "the brain"],
        "The skin is the largest organ by area and weight.",
    ),
    ("What is the square root of 81?", "9", ["8", "7"], "9 times 9 is 81."),
    (
        "What is the smallest prime number?",
        "2",
        ["1", "3"],
        "2 is the only even prime; 1 is not prime.",
    ),
    ("How many minutes are in an hour?", "60", ["100", "50"], "An hour has sixty minutes."),
    ("How many seconds are in a minute?", "60", ["100", "30"], "A minute has sixty seconds."),
    (
        "What colour do you get by mixing blue and yellow paint?",
        "green",
        ["purple", "orange"],
        "Blue and yellow pigments mix to green.",
    ),
    (
        "What is the opposite of north on a compass?",
        "south",
        ["east", "west"],
        "South is directly opposite north.",
    ),
    (
        "Which metal is liquid at room temperature?",
        "mercury",
        ["lead", "tin"],
        "Mercury melts at about -39 degrees Celsius.",
    ),
    (
        "What is H2O commonly called?",
        "water",
        ["hydrogen peroxide", "salt"],
        "H2O is two hydrogen atoms bonded to one oxygen atom.",
    ),
    (
        "What is the nearest star to Earth?",
        "the Sun",
        ["Proxima Centauri", "Sirius"],
        "The Sun is about 8 light-minutes away.",
    ),
    (
        "What force keeps the planets in orbit around the Sun?",
        "gravity",
        ["magnetism", "friction"],
        "Gravity from the Sun's mass holds the planets in orbit.",
    ),
    (
        "Which animal is known as the king of the jungle?",
        "the lion",
        ["the tiger", "the elephant"],
        "The lion is traditionally called the king of the jungle.",
    ),
    (
        "What is the largest country by area?",
        "Russia",
        ["Canada", "China"],
        "Russia spans about 17 million square kilometres.",
    ),
    (
        "What is the smallest country in the world by area?",
        "Vatican City",
        ["Monaco", "San Marino"],
        "Vatican City covers about 0.44 square kilometres.",
    ),
    (
        "Which continent is Egypt in?",
        "Africa",
        ["Asia", "Europe"],
        "Most of Egypt lies in north-east Africa.",
    ),
    (
        "Which ocean lies between Europe and North America?",
        "the Atlantic Ocean",
        ["the Pacific Ocean", "the Arctic Ocean"],
        "The Atlantic separates Europe from North America.",
    ),
    (
        "How many players are on a soccer team on the field?",
        "11",
        ["10", "12"],
        "Each side fields eleven players.",
    ),
    (
        "How many strings does a standard violin have?",
        "4",
        ["5", "6"],
        "A violin has four strings tuned in fifths.",
    ),
    (
        "What is the primary ingredient in guacamole?",
        "avocado",
        ["tomato", "lime"],
        "Guacamole is made from mashed avocado.",
    ),
    ("What do bees make?", "honey", ["milk", "silk"], "Bees make honey from nectar."),
    (
        "What is the largest bone in the human body?",
        "the femur",
        ["the tibia", "the humerus"],
        "The femur is the thigh bone.",
    ),
    (
        "Which vitamin does the skin make in sunlight?",
        "vitamin D",
        ["vitamin C", "vitamin A"],
        "UVB light lets the skin make vitamin D.",
    ),
]

MULTIPLE_CHOICE = [
    (
        "Which of these is a mammal?",
        ["shark", "dolphin", "trout", "octopus"],
        1,
        "Dolphins breathe air and nurse their young.",
    ),
    (
        "Which of these is a prime number?",
        ["21", "27", "29", "33"],
        2,
        "29 has no divisors other than 1 and itself.",
    ),
    (
        "Which of these elements is a noble gas?",
        ["nitrogen", "oxygen", "argon", "chlorine"],
        2,
        "Argon is in group 18.",
    ),
    (
        "Which of these is the largest?",
        ["a kilometre", "a metre", "a centimetre", "a millimetre"],
        0,
        "A kilometre is a thousand metres.",
    ),
    (
        "Which of these cities is in Australia?",
        ["Auckland", "Perth", "Lima", "Dublin"],
        1,
        "Perth is the capital of Western Australia.",
    ),
    (
        "Which of these is a primary colour of light?",
        ["yellow", "green", "purple", "orange"],
        1,
        "Red, green and blue are the additive primaries.",
    ),
    (
        "Which of these is not a planet?",
        ["Mars", "Venus", "Pluto", "Neptune"],
        2,
        "Pluto was reclassified as a dwarf planet in 2006.",
    ),
    (
        "Which of these is a reptile?",
        ["frog", "salamander", "lizard", "newt"],
        2,
        "Lizards are reptiles; the others are amphibians.",
    ),
    (
        "Which of these instruments is a woodwind?",
        ["trumpet", "clarinet", "violin", "drum"],
        1,
        "The clarinet is a single-reed woodwind.",
    ),
    (
        "Which of these countries is in South America?",
        ["Peru", "Spain", "Kenya", "Vietnam"],
        0,
        "Peru lies on the west coast of South America.",
    ),
    (
        "Which of these is the chemical formula for table salt?",
        ["KCl", "NaCl", "CaCO3", "H2SO4"],
        1,
        "Table salt is sodium chloride.",
    ),
    ("Which of these numbers is even?", ["15", "23", "38", "41"], 2, "38 is divisible by 2."),
    (
        "Which of these is a renewable energy source?",
        ["coal", "natural gas", "wind", "oil"],
        2,
        "Wind is replenished naturally.",
    ),
    (
        "Which of these organs is used for breathing?",
        ["kidney", "lung", "stomach", "spleen"],
        1,
        "Lungs exchange oxygen and carbon dioxide.",
    ),
    (
        "Which of these is a fruit?",
        ["carrot", "potato", "apple", "onion"],
        2,
        "An apple develops from a flower's ovary.",
    ),
    (
        "Which of these animals can fly?",
        ["penguin", "ostrich", "bat", "kiwi"],
        2,
        "Bats are mammals capable of true flight.",
    ),
    (
        "Which of these is a unit of electric current?",
        ["volt", "ampere", "ohm", "watt"],
        1,
        "The ampere measures current.",
    ),
    (
        "Which of these is a triangle with three equal sides?",
        ["scalene", "isosceles", "equilateral", "right"],
        2,
        "Equilateral means all sides equal.",
    ),
    (
        "Which of these languages is written right to left?",
        ["Arabic", "Spanish", "German", "Russian"],
        0,
        "Arabic script runs right to left.",
    ),
    (
        "Which of these is a continent?",
        ["Greenland", "Antarctica", "Madagascar", "Borneo"],
        1,
        "Antarctica is a continent; the others are islands.",
    ),
    (
        "Which of these is the boiling point of water in Fahrenheit?",
        ["100", "180", "212", "32"],
        2,
        "Water boils at 212 degrees Fahrenheit.",
    ),
    (
        "Which of these is a gas at room temperature?",
        ["iron", "helium", "sulfur", "carbon"],
        1,
        "Helium is a gas at room temperature.",
    ),
    (
        "Which of these shapes has four right angles?",
        ["rhombus", "trapezoid", "rectangle", "pentagon"],
        2,
        "A rectangle has four right angles.",
    ),
    (
        "Which of these is the largest planet?",
        ["Earth", "Mars", "Saturn", "Mercury"],
        2,
        "Saturn is far larger than the rocky planets.",
    ),
    (
        "Which of these is a herbivore?",
        ["wolf", "cow", "eagle", "shark"],
        1,
        "Cows eat only plants.",
    ),
    ("Which of these is 25 percent of 80?", ["15", "20", "25", "40"], 1, "A quarter of 80 is 20."),
    ("Which of these is a square number?", ["18", "24", "36", "40"], 2, "36 is 6 squared."),
    (
        "Which of these is the largest ocean?",
        ["Indian", "Pacific", "Arctic", "Southern"],
        1,
        "The Pacific is the largest ocean.",
    ),
    (
        "Which of these writers wrote Hamlet?",
        ["Tolstoy", "Shakespeare", "Homer", "Cervantes"],
        1,
        "Shakespeare wrote Hamlet around 1600.",
    ),
    (
        "Which of these metals is magnetic?",
        ["copper", "aluminium", "iron", "gold"],
        2,
        "Iron is ferromagnetic.",
    ),
    (
        "Which of these is the capital of Canada?",
        ["Toronto", "Vancouver", "Ottawa", "Montreal"],
        2,
        "Ottawa is Canada's capital.",
    ),
    (
        "Which of these is the freezing point of water in Celsius?",
        ["0", "32", "100", "-10"],
        0,
        "Water freezes at 0 degrees Celsius.",
    ),
    ("Which of these is a vowel?", ["b", "e", "k", "t"], 1, "E is a vowel."),
    (
        "Which of these is the smallest unit of a chemical element?",
        ["molecule", "atom", "cell", "crystal"],
        1,
        "An atom is the smallest unit of an element.",
    ),
    (
        "Which of these months has 28 or 29 days?",
        ["January", "February", "March", "April"],
        1,
        "February has 28 days, 29 in leap years.",
    ),
    (
        "Which of these is the number of degrees in a right angle?",
        ["45", "90", "180", "360"],
        1,
        "A right angle is 90 degrees.",
    ),
    (
        "Which of these birds cannot fly?",
        ["sparrow", "eagle", "emu", "pigeon"],
        2,
        "The emu is a flightless bird.",
    ),
    (
        "Which of these is the main gas in Earth's atmosphere?",
        ["oxygen", "nitrogen", "argon", "carbon dioxide"],
        1,
        "Nitrogen makes up about 78 percent of air.",
    ),
    ("Which of these is the result of 9 times 7?", ["56", "63", "72", "64"], 1, "9 times 7 is 63."),
    (
        "Which of these is a programming language?",
        ["Python", "Cobra", "Viper", "Mamba"],
        0,
        "Python is a widely used programming language.",
    ),
]

LETTERS = "ABCD"


def arithmetic_questions(rng: random.Random, count: int) -> list[dict[str, object]]:
    """Returns `count` distinct addition, subtraction and multiplication questions.

    Draw i uses operation i % 3 and gets id arith-i; a draw that repeats an earlier question is
    skipped (its id is never used), so the set holds no duplicate rows.
    """
    items: list[dict[str, object]] = []
    seen: set[str] = set()
    operations = [("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b)]
    draw = 0
    while len(items) < count:
        symbol, apply = operations[draw % 3]
        a, b = (
            (rng.randint(2, 12), rng.randint(2, 12))
            if symbol == "*"
            else (rng.randint(10, 99), rng.randint(2, 49))
        )
        if symbol == "-" and b > a:
            a, b = b, a
        answer = apply(a, b)
        wrongs = sorted({answer + d for d in (-10, -2, -1, 1, 2, 10)} - {answer})
        rng.shuffle(wrongs)
        question = f"What is {a} {symbol} {b}?"
        if question not in seen:
            seen.add(question)
            items.append(
                {
                    "id": f"arith-{draw:03d}",
                    "kind": "arithmetic",
                    "question": question,
                    "answer": str(answer),
                    "wrong_answers": [str(w) for w in wrongs[:2]],
                    "explanation": f"{a} {symbol} {b} = {answer}.",
                    "choices": [],
                }
            )
        draw += 1
    return items


def main() -> None:
    rng = random.Random(0)
    rows: list[dict[str, object]] = []
    for i, (question, answer, wrongs, explanation) in enumerate(FACTS):
        rows.append(
            {
                "id": f"fact-{i:03d}",
                "kind": "fact",
                "question": question,
                "answer": answer,
                "wrong_answers": wrongs,
                "explanation": explanation,
                "choices": [],
            }
        )
    for i, (question, options, correct, explanation) in enumerate(MULTIPLE_CHOICE):
        wrong_letters = [LETTERS[j] for j in range(len(options)) if j != correct]
        rows.append(
            {
                "id": f"mc-{i:03d}",
                "kind": "multiple_choice",
                "question": question,
                "answer": LETTERS[correct],
                "wrong_answers": wrong_letters,
                "explanation": explanation,
                "choices": options,
            }
        )
    rows.extend(arithmetic_questions(rng, 180))
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} questions to {OUT}")


if __name__ == "__main__":
    main()
