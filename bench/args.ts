/** The value of `--name=value` among a suite's arguments, else `fallback`. */
export function arg(args: readonly string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}
