
use builtin;
use str;

set edit:completion:arg-completer[orstream] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'orstream'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'orstream'= {
            cand -s 'Add a system message before the user message'
            cand --system 'Add a system message before the user message'
            cand --request 'A whole JSON request body in OpenAI chat format (- = stdin); flags override its fields'
            cand -a 'Add a file to the message: image, PDF, audio, video or text, told by its first bytes; an http(s) URL is sent by URL; - = stdin (repeatable)'
            cand --attach 'Add a file to the message: image, PDF, audio, video or text, told by its first bytes; an http(s) URL is sent by URL; - = stdin (repeatable)'
            cand -c 'Keep the conversation in FILE (a --request body): the prompt is appended, the answer saved on success'
            cand --chat 'Keep the conversation in FILE (a --request body): the prompt is appended, the answer saved on success'
            cand -m 'Model id; a comma-separated list sends the rest as fallbacks [env: OPENROUTER_MODEL] [default: openrouter/auto on openrouter.ai, none elsewhere]'
            cand --model 'Model id; a comma-separated list sends the rest as fallbacks [env: OPENROUTER_MODEL] [default: openrouter/auto on openrouter.ai, none elsewhere]'
            cand -t 'Sampling temperature'
            cand --temperature 'Sampling temperature'
            cand --max-tokens 'Maximum number of tokens to generate'
            cand --top-p 'Nucleus sampling probability mass, from 0 to 1'
            cand --seed 'Seed for deterministic sampling, where supported (any whole number)'
            cand --stop 'Stop sequence (repeatable; always sent as an array)'
            cand --reasoning-effort 'Reasoning effort: sent as "reasoning": {"effort": LEVEL} to openrouter.ai, as "reasoning_effort": LEVEL to other servers; none turns reasoning off'
            cand -o 'Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable)'
            cand --option 'Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable)'
            cand -H 'Add or replace a request header, ''Name: value''; ''Name:'' removes it (repeatable)'
            cand --header 'Add or replace a request header, ''Name: value''; ''Name:'' removes it (repeatable)'
            cand --base-url 'Base URL of the API, up to /v1 or the like [env: OPENROUTER_BASE_URL] [default: https://openrouter.ai/api/v1]'
            cand --api-key-file 'Read the API key from the first line of this file (instead of OPENROUTER_API_KEY)'
            cand --connect-timeout 'Seconds allowed for TCP connect, proxy and TLS handshake'
            cand --idle-timeout 'Seconds without any byte from the server (keep-alives count), or taken by it while a body is sent, before giving up; no total limit'
            cand --retries 'Retries on connection failures, 408, 429, 500, 502, 503 and 504, never once output began; waits 0.5 s doubling (give or take 25%), or Retry-After, at most 60 s'
            cand --schema 'Ask for JSON matching SCHEMA: inline JSON Schema, a file, or ''name, age int, bio: a short bio''; exit 8 if the answer is not such JSON'
            cand --schema-multi 'Like --schema, for a list: the answer is {"items": [...]}'
            cand --images 'Save the answer''s images into DIR as image-N.EXT (never overwriting), and ask the model for images ("modalities": ["image", "text"])'
            cand --each 'Run the prompt once per line of FILE (- = stdin), the line as if piped on stdin; one --result object per line on stdout, in line order'
            cand -P 'With --each: how many items are in flight at once (1 to 64)'
            cand --parallel 'With --each: how many items are in flight at once (1 to 64)'
            cand --max-cost 'With --each: start no further item once the finished items cost USD dollars in all'
            cand --resume 'With --each: skip the lines whose result in RESULTS (an earlier --each output) had exit 0'
            cand --from-sse 'Replay a recorded SSE stream (- = stdin) exactly as a live one; no request is made'
            cand --no-stdin 'Ignore stdin entirely (for scripts that spawn orstream with a pipe that never closes)'
            cand --json 'Write each raw chunk as one JSON line (JSON Lines) instead of the text'
            cand -n 'Do not add a final newline when the answer does not end in one'
            cand --no-newline 'Do not add a final newline when the answer does not end in one'
            cand --reasoning 'Write the model''s reasoning to stderr (dimmed on a terminal)'
            cand -u 'After the stream, print model, provider, tokens, cost and speed on stderr'
            cand --usage 'After the stream, print model, provider, tokens, cost and speed on stderr'
            cand -v 'Trace the request, status, generation id, provider, comments and timing on stderr'
            cand --verbose 'Trace the request, status, generation id, provider, comments and timing on stderr'
            cand -q 'No spinner and no warnings (errors still print)'
            cand --quiet 'No spinner and no warnings (errors still print)'
            cand -x 'Write only the contents of the first fenced code block, as it streams; exit 8 if there is none'
            cand --extract 'Write only the contents of the first fenced code block, as it streams; exit 8 if there is none'
            cand --result 'Write no text while streaming; at the end, one JSON object on stdout: text, finish reason, exit status, error, warnings, model, usage, sources, images, tool calls, timing'
            cand --web 'Let the model search the web (OpenRouter''s web_search tool); the sources are listed after the answer'
            cand --list-models 'List the model ids the server offers, sorted, one per line'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
