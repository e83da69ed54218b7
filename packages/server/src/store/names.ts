const ADJECTIVES =
  "amber brave calm clever crimson daring eager fancy gentle golden happy icy jolly keen lively lucky mellow misty nimble noble olive proud quick quiet rapid rosy rustic shiny silver smart snowy spry steady sunny swift tidy vivid warm witty zesty".split(
    " ",
  );
const ANIMALS =
  "badger beaver bison camel cheetah cobra condor coyote crane dingo dolphin eagle falcon ferret gecko heron ibex jackal koala lemur lynx marmot moose narwhal ocelot otter panda puffin quail raven salmon seal sparrow tapir toucan walrus wombat yak zebra".split(
    " ",
  );

const pick = (words: string[]): string => words[Math.floor(Math.random() * words.length)] ?? "baton";

/** A friendly run name like "swift-otter", as Prefect users are used to. */
export function runName(): string {
  return `${pick(ADJECTIVES)}-${pick(ANIMALS)}`;
}
