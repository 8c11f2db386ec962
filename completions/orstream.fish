complete -c orstream -s s -l system -d 'Add a system message before the user message' -r -f
complete -c orstream -l request -d 'A whole JSON request body in OpenAI chat format (- = stdin); flags override its fields' -r -F
complete -c orstream -s a -l attach -d 'Add a file to the message: image, PDF, audio, video or text, told by its first bytes; an http(s) URL is sent by URL; - = stdin (repeatable)' -r -F
complete -c orstream -s c -l chat -d 'Keep the conversation in FILE (a --request body): the prompt is appended, the answer saved on success' -r -F
complete -c orstream -s m -l model -d 'Model id; a comma-separated list sends the rest as fallbacks [env: OPENROUTER_MODEL] [default: openrouter/auto on openrouter.ai, none elsewhere]' -r -f
complete -c orstream -s t -l temperature -d 'Sampling temperature' -r -f
complete -c orstream -l max-tokens -d 'Maximum number of tokens to generate' -r -f
complete -c orstream -l top-p -d 'Nucleus sampling probability mass, from 0 to 1' -r -f
complete -c orstream -l seed -d 'Seed for deterministic sampling, where supported (any whole number)' -r -f
complete -c orstream -l stop -d 'Stop sequence (repeatable; always sent as an array)' -r -f
complete -c orstream -l reasoning-effort -d 'Reasoning effort: sent as "reasoning": {"effort": LEVEL} to openrouter.ai, as "reasoning_effort": LEVEL to other servers; none turns reasoning off' -r -f -a "none\t'Reasoning off'
minimal\t''
low\t''
medium\t''
high\t''
xhigh\t''
max\t''"
complete -c orstream -s o -l option -d 'Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable)' -r -f
complete -c orstream -s H -l header -d 'Add or replace a request header, \'Name: value\'; \'Name:\' removes it (repeatable)' -r -f
complete -c orstream -l base-url -d 'Base URL of the API, up to /v1 or the like [env: OPENROUTER_BASE_URL] [default: https://openrouter.ai/api/v1]' -r -f
complete -c orstream -l api-key-file -d 'Read the API key from the first line of this file (instead of OPENROUTER_API_KEY)' -r -F
complete -c orstream -l connect-timeout -d 'Seconds allowed for TCP connect, proxy and TLS handshake' -r -f
complete -c orstream -l idle-timeout -d 'Seconds without any byte from the server (keep-alives count), or taken by it while a body is sent, before giving up; no total limit' -r -f
complete -c orstream -l retries -d 'Retries on connection failures, 408, 429, 500, 502, 503 and 504, never once output began; waits 0.5 s doubling (give or take 25%), or Retry-After, at most 60 s' -r -f
complete -c orstream -l schema -d 'Ask for JSON matching SCHEMA: inline JSON Schema, a file, or \'name, age int, bio: a short bio\'; exit 8 if the answer is not such JSON' -r -F
complete -c orstream -l schema-multi -d 'Like --schema, for a list: the answer is {"items": [...]}' -r -F
complete -c orstream -l images -d 'Save the answer\'s images into DIR as image-N.EXT (never overwriting), and ask the model for images ("modalities": ["image", "text"])' -r -f -a "(__fish_complete_directories)"
complete -c orstream -l each -d 'Run the prompt once per line of FILE (- = stdin), the line as if piped on stdin; one --result object per line on stdout, in line order' -r -F
complete -c orstream -s P -l parallel -d 'With --each: how many items are in flight at once (1 to 64)' -r -f
complete -c orstream -l max-cost -d 'With --each: start no further item once the finished items cost USD dollars in all' -r -f
complete -c orstream -l resume -d 'With --each: skip the lines whose result in RESULTS (an earlier --each output) had exit 0' -r -F
complete -c orstream -l from-sse -d 'Replay a recorded SSE stream (- = stdin) exactly as a live one; no request is made' -r -F
complete -c orstream -l no-stdin -d 'Ignore stdin entirely (for scripts that spawn orstream with a pipe that never closes)'
complete -c orstream -l json -d 'Write each raw chunk as one JSON line (JSON Lines) instead of the text'
complete -c orstream -s n -l no-newline -d 'Do not add a final newline when the answer does not end in one'
complete -c orstream -l reasoning -d 'Write the model\'s reasoning to stderr (dimmed on a terminal)'
complete -c orstream -s u -l usage -d 'After the stream, print model, provider, tokens, cost and speed on stderr'
complete -c orstream -s v -l verbose -d 'Trace the request, status, generation id, provider, comments and timing on stderr'
complete -c orstream -s q -l quiet -d 'No spinner and no warnings (errors still print)'
complete -c orstream -s x -l extract -d 'Write only the contents of the first fenced code block, as it streams; exit 8 if there is none'
complete -c orstream -l result -d 'Write no text while streaming; at the end, one JSON object on stdout: text, finish reason, exit status, error, warnings, model, usage, sources, images, tool calls, timing'
complete -c orstream -l web -d 'Let the model search the web (OpenRouter\'s web_search tool); the sources are listed after the answer'
complete -c orstream -l list-models -d 'List the model ids the server offers, sorted, one per line'
complete -c orstream -s h -l help -d 'Print help (see more with \'--help\')'
complete -c orstream -s V -l version -d 'Print version'
