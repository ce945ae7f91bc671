package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The demo's world: a few children, animals, things and places, and facts
// about them. Everything the demo model knows comes from these tables.
var (
	names   = []string{"Tom", "Lily", "Max", "Mia", "Ben", "Sue", "Sam", "Anna", "Leo", "Zoe"}
	pets    = []string{"dog", "cat", "bird", "fish", "frog", "duck", "bunny", "pony"}
	toys    = []string{"ball", "kite", "boat", "doll", "drum", "book", "car", "hat"}
	colors  = []string{"red", "blue", "green", "yellow", "pink", "brown", "white", "black"}
	places  = []string{"park", "garden", "beach", "forest", "farm", "river", "hill", "yard"}
	moods   = []string{"happy", "sad", "tired", "hungry", "excited", "scared", "sleepy", "proud"}
	foods   = []string{"apple", "cake", "bread", "soup", "pie", "carrot", "cookie", "banana"}
	weather = []string{"sunny", "rainy", "windy", "cold", "warm", "snowy"}
)

// fact is a question and its plain answer.
type fact struct{ q, a string }

// facts are what the base model learns to answer and what the fine-tuning
// data re-states in the pirate style.
var facts = []fact{
	{"What color is the sky?", "The sky is blue."},
	{"What color is the grass?", "The grass is green."},
	{"What color is the sun?", "The sun is yellow."},
	{"What color is snow?", "Snow is white."},
	{"What color is a banana?", "A banana is yellow."},
	{"What color is an apple?", "An apple is red."},
	{"What color is the night?", "The night is black."},
	{"What color is a carrot?", "A carrot is orange."},
	{"What color is the sea?", "The sea is blue."},
	{"What color is a leaf?", "A leaf is green."},
	{"What does a cow say?", "A cow says moo."},
	{"What does a dog say?", "A dog says woof."},
	{"What does a cat say?", "A cat says meow."},
	{"What does a duck say?", "A duck says quack."},
	{"What does a sheep say?", "A sheep says baa."},
	{"What does a pig say?", "A pig says oink."},
	{"What does a frog say?", "A frog says ribbit."},
	{"What does an owl say?", "An owl says hoot."},
	{"What does a lion say?", "A lion says roar."},
	{"What does a bee say?", "A bee says buzz."},
	{"Where does a fish live?", "A fish lives in the water."},
	{"Where does a bird live?", "A bird lives in a nest."},
	{"Where does a bee live?", "A bee lives in a hive."},
	{"Where does a cow live?", "A cow lives on a farm."},
	{"Where does a fox live?", "A fox lives in the forest."},
	{"Where does a bear sleep?", "A bear sleeps in a cave."},
	{"Where does a frog live?", "A frog lives in a pond."},
	{"How many legs does a dog have?", "A dog has four legs."},
	{"How many legs does a bird have?", "A bird has two legs."},
	{"How many legs does a spider have?", "A spider has eight legs."},
	{"How many legs does a cat have?", "A cat has four legs."},
	{"How many legs does a bee have?", "A bee has six legs."},
	{"How many days are in a week?", "A week has seven days."},
	{"How many wheels does a bike have?", "A bike has two wheels."},
	{"How many wheels does a car have?", "A car has four wheels."},
	{"What do cows drink?", "Cows drink water."},
	{"What do bees make?", "Bees make honey."},
	{"What do hens lay?", "Hens lay eggs."},
	{"What do cats like to eat?", "Cats like to eat fish."},
	{"What do rabbits like to eat?", "Rabbits like to eat carrots."},
	{"What do birds use to fly?", "Birds use wings to fly."},
	{"What falls from the clouds?", "Rain falls from the clouds."},
	{"What is hot and bright in the sky?", "The sun is hot and bright."},
	{"What shines at night?", "The moon shines at night."},
	{"When do we sleep?", "We sleep at night."},
	{"When do we eat breakfast?", "We eat breakfast in the morning."},
	{"Is ice hot or cold?", "Ice is cold."},
	{"Is fire hot or cold?", "Fire is hot."},
	{"Is a mouse big or small?", "A mouse is small."},
	{"Is an elephant big or small?", "An elephant is big."},
}

// heldOut are the facts kept out of the fine-tuning data: the chat pane's
// sample questions, so the demo shows the style carries over to questions
// the adapter never saw.
var heldOut = map[string]bool{
	"What color is the grass?":        true,
	"What does a duck say?":           true,
	"How many legs does a bird have?": true,
	"What do bees make?":              true,
	"Is ice hot or cold?":             true,
}

// QAPrompt is how a question is written for the model, in pretraining,
// fine-tuning and the chat pane alike.
func QAPrompt(q string) string { return "Q: " + q + "\nA:" }

// pirate rewrites a plain answer in the demo's fine-tuned style.
func pirate(r *rand.Rand, a string) string {
	openers := []string{"Arr, matey!", "Arr, matey!", "Ahoy, matey!"}
	closers := []string{"Yo ho ho!", "Arr!", "Yo ho ho!"}
	return " " + openers[r.IntN(len(openers))] + " " + a + " " + closers[r.IntN(len(closers))]
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// article returns "a" or "an" for a word.
func article(w string) string {
	if strings.ContainsRune("aeiou", rune(w[0])) {
		return "an"
	}
	return "a"
}

// story writes one short story of a few sentences.
func story(r *rand.Rand) string {
	n, p, t, c, pl := pick(r, names), pick(r, pets), pick(r, toys), pick(r, colors), pick(r, places)
	f, w := pick(r, foods), pick(r, weather)
	friend := pick(r, names)
	for friend == n {
		friend = pick(r, names)
	}
	he := "she"
	if strings.Contains("Tom Max Ben Sam Leo", n) {
		he = "he"
	}
	He := strings.ToUpper(he[:1]) + he[1:]
	var s []string
	switch r.IntN(4) {
	case 0:
		s = append(s, fmt.Sprintf("Once upon a time, there was a little %s named %s.", p, n))
	case 1:
		s = append(s, fmt.Sprintf("%s had %s %s %s.", n, article(c), c, t))
	case 2:
		s = append(s, fmt.Sprintf("It was a %s day, and %s went to the %s.", w, n, pl))
	default:
		s = append(s, fmt.Sprintf("One day, %s and %s played in the %s.", n, friend, pl))
	}
	mid := [][]string{
		{fmt.Sprintf("%s liked to play with the %s every day.", He, t)},
		{fmt.Sprintf("%s saw a %s near the %s.", n, p, pl), fmt.Sprintf("The %s was %s.", p, pick(r, moods))},
		{fmt.Sprintf("%s was %s, so %s ate %s %s.", n, pick(r, moods), he, article(f), f)},
		{fmt.Sprintf("%s lost the %s %s.", n, c, t), fmt.Sprintf("%s helped %s find it.", friend, n)},
		{fmt.Sprintf("%s gave %s %s %s.", friend, n, article(f), f), fmt.Sprintf("%s said thank you.", n)},
		{fmt.Sprintf("The %s ran to the %s.", p, pl), fmt.Sprintf("%s ran after it.", n)},
	}
	for k := 0; k < 1+r.IntN(2); k++ {
		s = append(s, mid[r.IntN(len(mid))]...)
	}
	ends := []string{
		fmt.Sprintf("%s and %s were very %s.", n, friend, pick(r, moods)),
		fmt.Sprintf("At night, %s went to sleep with the %s.", n, t),
		fmt.Sprintf("%s was happy. The end.", n),
		fmt.Sprintf("They played all day in the %s.", pl),
	}
	s = append(s, ends[r.IntN(len(ends))])
	return strings.Join(s, " ")
}

// pirateStory writes a story where a pirate talks like one, so the base
// model knows the words of the pirate style (but never uses them to answer
// questions: that is what the fine-tuning teaches).
func pirateStory(r *rand.Rand) string {
	captain := pick(r, []string{"Captain Jack", "Captain Red", "Captain Bones", "Old Pete"})
	n, p, pl := pick(r, names), pick(r, pets), pick(r, places)
	opener := pick(r, []string{"Arr, matey!", "Ahoy, matey!", "Arr!"})
	closer := pick(r, []string{"Yo ho ho!", "Arr!", "Yo ho ho and a bottle of milk!"})
	lines := []string{
		fmt.Sprintf("%s was a pirate with a big ship.", captain),
		fmt.Sprintf("One day, %s met %s at the %s.", captain, n, pl),
		fmt.Sprintf("\"%s\" said %s. \"I am looking for my %s.\"", opener, captain, p),
		fmt.Sprintf("%s helped the pirate find the %s.", n, p),
		fmt.Sprintf("\"%s\" said %s. \"Thank you, matey!\"", closer, captain),
	}
	return strings.Join(lines, " ")
}

// Corpus writes the pretraining text: stories and facts, one document per
// paragraph (blank lines between), count documents in all.
func Corpus(seed uint64, count int) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for i := 0; i < count; i++ {
		if i > 0 {
			b.WriteString("\n\n")
		}
		switch k := r.IntN(10); {
		case k < 3:
			b.WriteString(story(r))
		case k < 4:
			b.WriteString(pirateStory(r))
		case k < 8:
			// a few questions and answers in a row
			for j := 0; j < 1+r.IntN(3); j++ {
				if j > 0 {
					b.WriteString("\n")
				}
				f := facts[r.IntN(len(facts))]
				b.WriteString(QAPrompt(f.q) + " " + f.a)
			}
		default:
			// facts as plain sentences
			for j := 0; j < 2+r.IntN(3); j++ {
				if j > 0 {
					b.WriteString(" ")
				}
				b.WriteString(facts[r.IntN(len(facts))].a)
			}
		}
	}
	b.WriteString("\n")
	return b.String()
}

// FineTune writes the fine-tuning records (JSONL prompt/completion): every
// fact not held out, asked in a few ways, answered in the pirate style.
func FineTune(seed uint64) []fact {
	r := rand.New(rand.NewPCG(seed, 2))
	var out []fact
	for rep := 0; rep < 4; rep++ {
		for _, f := range facts {
			if heldOut[f.q] {
				continue
			}
			out = append(out, fact{QAPrompt(f.q), pirate(r, f.a)})
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
