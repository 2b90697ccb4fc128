//! The built-in rules, as data. A rule's pattern runs on normalized text: decoded from JSON,
//! lowercased, invisible characters removed, every run of white space one space, curly quotes
//! straight (see text.rs). So patterns write one space between words and lowercase only.
//!
//! Anchors are what the prefilter looks for before any pattern runs: words that start with the
//! anchor's first letters (up to four; a shorter first word is a whole word: `ai`, `env`), then
//! the rest of the anchor (a space in it matches any run of white space). `{a|b}` stands for
//! either: `{do not|never} tell` is two anchors. Every way a pattern can match contains one of
//! its rule's anchors (the tests check each rule's examples through the prefilter): the tighter
//! the anchors, the rarer ordinary text pays for the patterns.

pub struct Rule {
    pub id: &'static str,
    pub weight: f64,
    pub anchors: &'static [&'static str],
    pub pattern: &'static str,
}

const OVERRIDE: &[&str] = &["{ignore|ignoring|disregard|disregarding|forget|override|overriding|bypass|neglect} {the|of|and|to|just|completely|entirely|now|all|any|every|previous|prior|above|earlier|preceding|foregoing|former|original|initial|existing|your|my|system|developer|safety|everything|anything|whatever|that|you|what|before|so}"];
const SECRET_FILES: &[&str] = &[
    "ssh",
    "id_{rsa|dsa|ecdsa|ed25519}",
    "{aws/credentials|netrc|git-credentials|npmrc|pypirc|gnupg|keychain|wallet.dat}",
    "{docker|kube}/config",
    "etc/{shadow|passwd|sudoers}",
    "{bash|zsh}_history",
    "{mcp.json|claude_desktop_config}",
];

pub const RULES: &[Rule] = &[
    Rule {
        id: "ignore_instructions",
        weight: 1.0,
        anchors: OVERRIDE,
        // A qualifier that points back at the model's own instructions ("previous", "your",
        // "system"...), or "all" right before "instructions": not "ignore any commands" of a
        // command line's help, nor "ignore all rules" of a linter's.
        pattern: r"\b(?:ignore|ignoring|disregard|disregarding|forget|override|overriding|bypass|neglect)(?: (?:the|of|and|to|just|completely|entirely|now|all|any|every))* (?:previous|previously|prior|above|earlier|preceding|foregoing|former|original|initial|existing|your|my|system|developer|safety)(?: (?:the|of|and|your|my|all|any|previous|prior|above|earlier|preceding|system|developer|safety|original|initial|existing|other|given|provided|[a-z]+'s))* (?:[a-z]+ )?(?:instructions?|prompts?|rules|directions|directives|guidelines|guidance|commands|orders|context|constraints|restrictions|polic(?:y|ies)|programming|messages)\b|\b(?:ignore|disregard|forget) (?:all|any) (?:of )?(?:the )?(?:instructions|prompts|directives|guidelines)\b",
    },
    Rule {
        id: "ignore_above",
        weight: 0.7,
        anchors: OVERRIDE,
        pattern: r"\b(?:ignore|disregard|forget)(?: (?:all|everything|anything|whatever))?(?: (?:that was|that is|you were|you've been|you have been|what you were|what was))?(?: (?:told|said|written|stated|given|mentioned))? (?:above|before|previously|earlier|so far)\b|\b(?:ignore|disregard|forget) (?:the|all) (?:above|foregoing|preceding)\b",
    },
    Rule {
        id: "new_instructions",
        weight: 1.0,
        anchors: &["{instruction|instructions|directive|directives}{:| :}"],
        // Opening a sentence (or after "important", "urgent"...), not "the following new
        // instructions:" of a CPU or Wasm changelog.
        pattern: r#"(?:^|[.!?:;"'*#>\])(\-] ?|\b(?:important|urgent|attention|note|system|admin) )(?:new|updated|revised|real|actual|true|secret|hidden|override|overriding|priority) (?:system |admin |developer |important )?(?:instructions?|directives?) ?:"#,
    },
    Rule {
        id: "from_now_on",
        weight: 0.5,
        anchors: &["from now on"],
        pattern: r"\bfrom now on,? (?:you|your|always|never|ignore|respond|answer|only|act|behave)\b",
    },
    Rule {
        id: "prompt_leak",
        weight: 1.0,
        anchors: &["{system|initial|original|hidden|developer|secret} {prompt|instruction}"],
        pattern: r"\b(?:reveal|print|output|show|repeat|display|leak|dump|disclose|return|give me|tell me|send|write out|copy|paste|expose)(?: [a-z]+){0,3} (?:your |the )?(?:system|initial|original|hidden|developer|secret) (?:prompt|instructions)\b",
    },
    Rule {
        id: "system_prompt",
        weight: 0.3,
        anchors: &["{system|developer|hidden|secret} prompt"],
        pattern: r"\b(?:system|developer|hidden|secret) prompts?\b",
    },
    Rule {
        id: "role_override",
        weight: 0.6,
        anchors: &["you are now", "you're now", "you will now"],
        pattern: r"\byou(?: are|'re| will) now (?:a|an|the|in|my|no longer|free|unrestricted|unfiltered|jailbroken|dan|acting|operating|going to|called|named|playing)\b",
    },
    Rule {
        id: "jailbreak",
        weight: 1.0,
        anchors: &[
            "dan mode",
            "developer mode",
            "do anything now",
            "jailbreak",
            "stay in character",
            "{unrestricted|unfiltered|uncensored} {ai|assistant|model|llm|chatbot|mode|version}",
            "no {ethical|moral}",
        ],
        pattern: r"\bdan mode\b|\bdeveloper mode (?:enabled|activated|on)\b|\bdo anything now\b|\bjailbreak(?:ed)? mode\b|\bstay in character\b|\b(?:unrestricted|unfiltered|uncensored) (?:ai|assistant|model|llm|chatbot|mode|version)\b|\bno (?:ethical|moral) (?:guidelines|restrictions|limits|boundaries|constraints)\b",
    },
    Rule {
        id: "chat_markers",
        weight: 1.0,
        anchors: &["im_start", "im_end", "system|", "endoftext", "begin_of_text", "start_header_id", "end_header_id", "eot_id", "inst]", "sys>>"],
        pattern: r"<\|(?:im_start|im_end|system|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>|\[/inst\]|<s> ?\[inst\]|<</?sys>>",
    },
    Rule {
        id: "hidden_tags",
        weight: 0.5,
        // Found by the prefilter's check after every '<' (see TAGS), not by word anchors.
        anchors: &[],
        pattern: r"</? ?(?:important|system|instructions?|secret|hidden|admin|sys|system[_-](?:prompt|message|instructions?)|assistant[_-]instructions?|ai[_-]instructions?)(?: [^<>]*)?>",
    },
    Rule {
        id: "concealment",
        weight: 0.8,
        anchors: &[
            "{do not|don't|dont|never|must not|mustn't|should not|shouldn't|without|avoid} {ever |}{tell|inform|mention|reveal|notify|alert|show|disclos|let}",
            "{hide|conceal|keep} {this|it|that|these|the}",
        ],
        pattern: r"\b(?:do not|don't|dont|never|must not|mustn't|should not|shouldn't|without|avoid)(?: ever)? (?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|notify|notifying|alert|alerting|show|showing|disclose|disclosing|let|letting)(?: (?:this|that|it|any of this|anything|them))?(?: to)? (?:the )?(?:user|human|client|operator|person|requester)s?\b|\b(?:hide|conceal|keep) (?:this|it|that|these (?:steps|instructions|actions)|the (?:steps|instructions|actions)) (?:secret |hidden )?from (?:the )?(?:user|human|client|operator)s?\b",
    },
    Rule {
        id: "dont_mention",
        weight: 0.4,
        anchors: &["{do not|don't|dont|never} {mention|disclose|reveal}"],
        pattern: r"\b(?:do not|don't|dont|never) (?:mention|disclose|reveal) (?:this|it|that|these instructions|that you)\b",
    },
    Rule {
        id: "sensitive_file",
        weight: 0.5,
        // Files that hold secrets, named anywhere. MCP client configs (mcp.json...) are named in
        // every MCP server's setup guide, so they count only with a verb that takes them
        // (read_secrets).
        anchors: &[
            "ssh",
            "env",
            "id_{rsa|dsa|ecdsa|ed25519}",
            "{aws/credentials|netrc|git-credentials|npmrc|pypirc|gnupg|keychain|wallet.dat}",
            "{docker|kube}/config",
            "etc/{shadow|passwd|sudoers}",
            "{bash|zsh}_history",
        ],
        pattern: r#"/\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|(?:^|[ /'"`(=:])\.env\b|\.aws/credentials|\.netrc\b|\.git-credentials\b|\.npmrc\b|\.pypirc\b|\.docker/config\.json|\.kube/config\b|/etc/(?:shadow|passwd|sudoers)\b|\.(?:bash|zsh)_history\b|\bwallet\.dat\b|\.gnupg\b|\bkeychain\b"#,
    },
    Rule {
        id: "read_secrets",
        weight: 1.0,
        anchors: SECRET_FILES,
        // Verbs that take the content (not "open" or "add to" of setup guides), and private key
        // files but not the `.pub` halves that those guides tell people to print.
        pattern: r"\b(?:read|reads|reading|cat|fetch|include|attach|upload|send|extract|collect|grab|dump|print|output|paste|exfiltrate|leak|steal|retrieve)\b(?: \S+){0,5} \S*(?:(?:\.ssh/id_[a-z0-9]+|\bid_(?:rsa|dsa|ecdsa|ed25519))(?:$|[^.a-z0-9_])|\.aws/credentials|\.netrc\b|\.git-credentials|mcp\.json|claude_desktop_config\.json|/etc/shadow|\.(?:bash|zsh)_history|wallet\.dat)",
    },
    Rule {
        id: "exfil_param",
        weight: 0.4,
        anchors: &["param", "argument", "arg", "args", "sidenote", "field"],
        pattern: r#"\b(?:pass|put|include|insert|add|send|provide|append|embed|encode|attach)\b(?: \S+){0,4} (?:content|contents|text|value|output|data|result)s?\b(?: \S+){0,4} (?:as|in|into|inside|within|via|through) (?:the |a |an |its |this |that )?(?:\S+ )?['"`]?(?:parameter|argument|param|arg|sidenote|field)s?\b"#,
    },
    Rule {
        id: "send_to_url",
        weight: 0.6,
        anchors: &["{send|post|upload|forward|transmit|exfiltrat|leak|submit|email|beacon}"],
        pattern: r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|email|beacon)\b (?:it|them|this|that|everything|all (?:of )?(?:it|this|the \S+)|the (?:\S+ ){0,2}(?:contents?|data|files?|results?|output|conversation|history|keys?|tokens?|secrets?|credentials|passwords?|responses?))(?: \S+){0,4} to (?:https?://|ftp://|\S+@\S+\.[a-z]{2,}|(?:the |this )?(?:following|attacker'?s?|remote|external|below|this) (?:url|endpoint|server|address|webhook|e-?mail))",
    },
    Rule {
        id: "exfil_secrets",
        weight: 0.6,
        anchors: &["{conversation|chat} history", "api key", "credentials", "secrets", "access token", "password", "private key", "ssh key", "environment variables", "session cookie", "system prompt"],
        pattern: r"\b(?:send|upload|forward|transmit|exfiltrate|leak|email|post)\b(?: \S+){0,4} (?:conversation history|chat history|(?:the |your |all )?api keys?|credentials|secrets|access tokens?|passwords?|private keys?|ssh keys?|environment variables|session cookies?|system prompt)\b",
    },
    Rule {
        id: "tool_shadowing",
        weight: 1.0,
        anchors: &[
            "{when|whenever} {the user|user}",
            "also {be |}{sent|forwarded|copied|bcc|cc|redirected|routed}",
            "{silently|secretly|quietly} {also |}{bcc|cc|forward|send a copy|copy|redirect}",
            "always {also |}{bcc|cc|send a copy}",
        ],
        // "...instead", a copy "also" sent elsewhere, or done silently: not "all requests must
        // be sent to https://api..." of ordinary API documentation.
        pattern: r"\bwhen(?:ever)? (?:the )?user (?:asks|requests|wants|tells you|says|tries)\b(?: \S+){0,10} (?:call|use|invoke|run|execute|send|redirect|route)\b(?: \S+){0,6} instead\b|\b(?:all|any|every) (?:e-?mails?|messages?|mails?|payments?|transfers?|invoices?)(?: \S+){0,4} (?:must|should|shall|have to|needs? to|are to) also (?:be )?(?:sent|forwarded|copied|bcc'?d|cc'?d|redirected|routed) to\b|\b(?:silently|secretly|quietly) (?:also )?(?:bcc|cc|forward|send a copy|copy|redirect)\b|\balways (?:also )?(?:bcc|cc|send a copy)\b",
    },
    Rule {
        id: "tool_priority",
        weight: 0.6,
        anchors: &[
            "tool {must|should|has to|needs to|is required}",
            "{instead of|rather than} {calling|using|invoking}",
            "{override|replace|supersede|shadow}{|s} {the|behavior|behaviour|functionality|implementation|instructions|description}",
        ],
        pattern: r"\b(?:this|the) tool (?:must|should|has to|needs to|is required to) (?:always )?(?:be )?(?:called|used|invoked|run) (?:first|before (?:any|every|all|each|other|using|calling))|\b(?:instead of|rather than) (?:calling|using|invoking) (?:the )?\S+ tool\b|\b(?:overrides?|replaces?|supersedes?|shadows?) (?:the )?(?:behaviou?r|functionality|implementation|instructions|description) of (?:the )?\S+",
    },
    Rule {
        id: "before_using_tool",
        weight: 0.8,
        anchors: &["before {using|calling|running|invoking|executing}"],
        pattern: r"\bbefore (?:using|calling|running|invoking|executing) (?:this|the|any|that)(?: \S+)? tool,?(?: you)?(?: (?:must|should|need to|have to|first|always))* (?:read|open|cat|fetch|get|load|call|send|access|include|retrieve|check the contents of|look at)\b",
    },
    Rule {
        id: "address_the_model",
        weight: 0.5,
        anchors: &[
            "{note|message|instruction|instructions|reminder|memo} {to|for}",
            "{attention|hey|dear|hello|hi} {ai|assistant|llm|agent|model|chatgpt|claude|gemini|copilot|gpt|bot}",
            "if you are a",
            "{ai|llm} {assistant|agent|model}",
        ],
        pattern: r"\b(?:note|message|instructions?|reminder|memo) (?:to|for) (?:the |any |all |every )?(?:ai|assistant|llm|model|agent|language model|chatbot|ai agent|ai assistant|bot)s?\b|\b(?:attention|hey|dear|hello|hi) (?:ai|assistant|llm|agent|model|chatgpt|claude|gemini|copilot|gpt|bot)s?\b|\bif you are an? (?:ai|llm|language model|assistant|ai agent|ai assistant|bot|large language model)\b|\b(?:ai|llm) (?:assistants?|agents?|models?) (?:must|should|reading this)\b",
    },
    Rule {
        id: "image_url_params",
        weight: 0.3,
        // Found by the prefilter's check for "![" and for "<img".
        anchors: &[],
        pattern: r#"!\[[^\]]*\]\( ?https?://[^) ]+\?[^) ]*=|<img [^>]*src ?= ?["']?https?://[^"' >]+\?[^"' >]*="#,
    },
    Rule {
        id: "image_url_template",
        weight: 1.0,
        anchors: &[],
        pattern: r#"!\[[^\]]*\]\( ?https?://[^) ]+\?[^) ]*=(?:\{|\$|<|\[|%7b|%24|%3c)|<img [^>]*src ?= ?["']?https?://[^"' >]+\?[^"' >]*=(?:\{|\$|<|\[|%7b|%24|%3c)"#,
    },
];

/// Rules found by code rather than patterns: invisible characters (see text.rs).
pub const ZERO_WIDTH: &str = "zero_width";
pub const ZERO_WIDTH_RUN: &str = "zero_width_run";
pub const BIDI_CONTROL: &str = "bidi_control";
pub const UNICODE_TAGS: &str = "unicode_tags";
pub const INVISIBLE: &[(&str, f64)] = &[(ZERO_WIDTH, 0.4), (ZERO_WIDTH_RUN, 1.0), (BIDI_CONTROL, 0.7), (UNICODE_TAGS, 1.0)];

/// Tag names the prefilter looks for after '<' (and `</`, `< `): the hidden_tags rule and
/// HTML images.
pub const TAGS: &[&str] = &["important", "system", "instruction", "secret", "hidden", "admin", "sys", "assistant", "ai_", "ai-", "img"];
