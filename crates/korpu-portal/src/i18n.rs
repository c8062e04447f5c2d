//! The portal's words in Azerbaijani (the default), English and Russian.
//!
//! One table, one row per message, typed: a message is a [`Msg`] variant, so a misspelt one
//! does not compile, and the table's macro takes exactly three texts per row, so no message
//! lacks a language. Texts that come from the registry (service names) carry their own
//! translations (`korpu_conf::Localized`).

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Az,
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Az, Lang::En, Lang::Ru];

    /// From a code; `None` for codes the portal does not speak.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "az" => Some(Lang::Az),
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Az => "az",
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
    /// The language's name in itself, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Az => "Azərbaycanca",
            Lang::En => "English",
            Lang::Ru => "Русский",
        }
    }
    /// The message `m` in this language.
    pub fn t(self, m: Msg) -> &'static str {
        let [az, en, ru] = m.texts();
        match self {
            Lang::Az => az,
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

/// Defines [`Msg`], one variant per message, with its texts: each row must give exactly three
/// (az, en, ru), so a message missing a language, or a misspelt message, does not compile.
macro_rules! messages {
    ($($name:ident = $key:literal: $az:literal, $en:literal, $ru:literal;)*) => {
        /// A message of the portal, in every language it speaks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg {
            $($name,)*
        }

        impl Msg {
            /// Every message, in table order.
            pub const ALL: &'static [Msg] = &[$(Msg::$name,)*];

            /// The message's stable name (as it was written before the keys were typed).
            pub fn key(self) -> &'static str {
                match self {
                    $(Msg::$name => $key,)*
                }
            }

            /// The texts in az, en, ru.
            fn texts(self) -> [&'static str; 3] {
                match self {
                    $(Msg::$name => [$az, $en, $ru],)*
                }
            }
        }
    };
}

#[rustfmt::skip]
messages! {
    Site = "site": "myGov", "myGov", "myGov";
    Tagline = "tagline": "Dövlət xidmətləri bir yerdə", "Government services in one place", "Государственные услуги в одном месте";
    Skip = "skip": "Əsas məzmuna keçin", "Skip to main content", "Перейти к основному содержанию";
    NavServices = "nav_services": "Xidmətlər", "Services", "Услуги";
    NavApplications = "nav_applications": "Müraciətlərim", "My applications", "Мои заявления";
    NavTracker = "nav_tracker": "Məlumatlarıma kim baxıb", "Who accessed my data", "Кто смотрел мои данные";
    NavConsents = "nav_consents": "Razılıqlar", "Consents", "Согласия";
    NavNotifications = "nav_notifications": "Bildirişlər", "Notifications", "Уведомления";
    Login = "login": "Daxil olun", "Sign in", "Войти";
    Logout = "logout": "Çıxış", "Sign out", "Выйти";
    SignedInAs = "signed_in_as": "Daxil olan istifadəçi:", "Signed in as", "Вы вошли как";
    Language = "language": "Dil", "Language", "Язык";
    HomeTitle = "home_title": "Dövlət xidmətlərindən onlayn istifadə edin", "Use government services online", "Пользуйтесь государственными услугами онлайн";
    HomeLead = "home_lead": "Müraciət edin, vəziyyəti izləyin, imzalı sənədləri alın və məlumatlarınıza kimin baxdığını görün.", "Apply, track the status, receive signed documents and see who looked at your data.", "Подавайте заявления, следите за статусом, получайте подписанные документы и смотрите, кто обращался к вашим данным.";
    Start = "start": "Xidmətlərə baxın", "Browse services", "Смотреть услуги";
    CatalogueTitle = "catalogue_title": "Xidmətlər", "Services", "Услуги";
    SearchLabel = "search_label": "Xidmət axtarın", "Search for a service", "Поиск услуги";
    SearchButton = "search_button": "Axtar", "Search", "Найти";
    Category = "category": "Kateqoriya", "Category", "Категория";
    AllCategories = "all_categories": "Bütün kateqoriyalar", "All categories", "Все категории";
    Results = "results": "nəticə", "results", "результатов";
    NoResults = "no_results": "Heç nə tapılmadı. Başqa söz yoxlayın.", "Nothing found. Try another word.", "Ничего не найдено. Попробуйте другое слово.";
    Agency = "agency": "Qurum", "Agency", "Ведомство";
    WhatYouNeed = "what_you_need": "Sizə lazım olanlar", "What you need", "Что вам понадобится";
    ApplyNow = "apply_now": "Müraciət edin", "Apply now", "Подать заявление";
    LoginToApply = "login_to_apply": "Müraciət etmək üçün daxil olun", "Sign in to apply", "Войдите, чтобы подать заявление";
    NoForm = "no_form": "Bu xidmət üçün onlayn müraciət yoxdur.", "This service has no online application.", "Для этой услуги нет онлайн-заявления.";
    FormTitle = "form_title": "Müraciət", "Application", "Заявление";
    Submit = "submit": "Göndərin", "Submit", "Отправить";
    ErrorSummary = "error_summary": "Problem var", "There is a problem", "Есть проблема";
    ErrRequired = "err_required": "Bu sahəni doldurun", "Fill in this field", "Заполните это поле";
    ErrPattern = "err_pattern": "Düzgün formatda daxil edin", "Enter it in the correct format", "Введите в правильном формате";
    ErrNumber = "err_number": "Rəqəm daxil edin", "Enter a number", "Введите число";
    ErrInteger = "err_integer": "Tam ədəd daxil edin", "Enter a whole number", "Введите целое число";
    ErrMin = "err_min": "Dəyər çox kiçikdir; minimum:", "The value is too small; the minimum is", "Значение слишком маленькое; минимум:";
    ErrMax = "err_max": "Dəyər çox böyükdür; maksimum:", "The value is too large; the maximum is", "Значение слишком большое; максимум:";
    ErrMinlength = "err_minlength": "Çox qısadır; minimum simvol:", "Too short; minimum characters:", "Слишком коротко; минимум символов:";
    ErrMaxlength = "err_maxlength": "Çox uzundur; maksimum simvol:", "Too long; maximum characters:", "Слишком длинно; максимум символов:";
    ErrEnum = "err_enum": "Siyahıdan seçin", "Choose one of the options", "Выберите один из вариантов";
    ErrDate = "err_date": "Tarixi İİİİ-AA-GG formatında daxil edin", "Enter a date as YYYY-MM-DD", "Введите дату в формате ГГГГ-ММ-ДД";
    ErrEmail = "err_email": "E-poçt ünvanını düzgün daxil edin", "Enter a valid e-mail address", "Введите правильный адрес электронной почты";
    Choose = "choose": "Seçin", "Choose", "Выберите";
    Yes = "yes": "Bəli", "Yes", "Да";
    ApplicationsTitle = "applications_title": "Müraciətlərim", "My applications", "Мои заявления";
    NoApplications = "no_applications": "Hələ müraciətiniz yoxdur.", "You have no applications yet.", "У вас пока нет заявлений.";
    Reference = "reference": "Nömrə", "Reference", "Номер";
    Status = "status": "Vəziyyət", "Status", "Статус";
    SubmittedAt = "submitted_at": "Göndərilib", "Submitted", "Отправлено";
    History = "history": "Tarixçə", "History", "История";
    Messages = "messages": "Qurumdan mesajlar", "Messages from the agency", "Сообщения от ведомства";
    Documents = "documents": "Sənədlər", "Documents", "Документы";
    Download = "download": "Yükləyin", "Download", "Скачать";
    Verify = "verify": "İmzanı yoxlayın", "Verify the signature", "Проверить подпись";
    VerifiedBy = "verified_by": "Təsdiqləndi: imzalayan", "Verified: signed by", "Проверено: подписал";
    NotVerified = "not_verified": "İmza təsdiqlənmədi:", "The signature did not verify:", "Подпись не подтверждена:";
    Refresh = "refresh": "Yeniləyin", "Refresh", "Обновить";
    StSubmitted = "st_submitted": "Göndərilib", "Submitted", "Отправлено";
    StInReview = "st_in_review": "Baxılır", "In review", "На рассмотрении";
    StDecided = "st_decided": "Qərar verilib", "Decided", "Решение принято";
    StRejected = "st_rejected": "Rədd edilib", "Rejected", "Отклонено";
    StUnknown = "st_unknown": "Naməlum", "Unknown", "Неизвестно";
    AppliedOk = "applied_ok": "Müraciətiniz göndərildi", "Your application was sent", "Ваше заявление отправлено";
    BridgeFailed = "bridge_failed": "Müraciət quruma çatdırılmadı. Bir az sonra yenidən cəhd edin.", "The application could not reach the agency. Try again in a few minutes.", "Заявление не удалось доставить в ведомство. Попробуйте через несколько минут.";
    TrackerTitle = "tracker_title": "Məlumatlarıma kim baxıb", "Who accessed my data", "Кто смотрел мои данные";
    TrackerLead = "tracker_lead": "Hər dövlət sistemi məlumatlarınıza müraciəti qeydə alır. Hər qeyd jurnalda olduğunun sübutu ilə yoxlanılır.", "Every government system records each access to your data. Each entry is checked against a proof that it is in the ledger.", "Каждая государственная система записывает обращения к вашим данным. Каждая запись проверяется доказательством её наличия в журнале.";
    When = "when": "Nə vaxt", "When", "Когда";
    Who = "who": "Kim", "Who", "Кто";
    System = "system": "Sistem", "System", "Система";
    What = "what": "Nə", "What", "Что";
    Purpose = "purpose": "Məqsəd", "Purpose", "Цель";
    Proof = "proof": "Sübut", "Proof", "Доказательство";
    ProofOk = "proof_ok": "Yoxlanıldı", "Verified", "Проверено";
    ProofBad = "proof_bad": "Yoxlanılmadı", "Not verified", "Не проверено";
    NoAccesses = "no_accesses": "Qeyd yoxdur.", "No entries.", "Записей нет.";
    OwnRequests = "own_requests": "myGov vasitəsilə öz sorğularınız (siyahıda göstərilmir):", "Your own requests through myGov (not listed):", "Ваши собственные запросы через myGov (не показаны):";
    TrackerUnavailable = "tracker_unavailable": "Bu qurumun jurnalı hazırda əlçatan deyil:", "This agency's ledger is not available right now:", "Журнал этого ведомства сейчас недоступен:";
    ConsentsTitle = "consents_title": "Razılıqlar", "Consents", "Согласия";
    ConsentsLead = "consents_lead": "Şirkətlərin məlumatlarınızı oxumasına razılıq verin və ya geri götürün.", "Grant or withdraw consent for companies to read your data.", "Давайте или отзывайте согласие компаниям на чтение ваших данных.";
    ConsentRequest = "consent_request": "Razılıq sorğusu", "Consent request", "Запрос согласия";
    Company = "company": "Şirkət", "Company", "Компания";
    Application = "application": "Tətbiq", "Application", "Приложение";
    DataItems = "data_items": "İstənilən məlumatlar", "Data requested", "Запрашиваемые данные";
    ValidUntil = "valid_until": "Etibarlıdır", "Valid until", "Действует до";
    Expiry = "expiry": "Nə qədər müddətə", "For how long", "На какой срок";
    Days30 = "days_30": "30 gün", "30 days", "30 дней";
    Days90 = "days_90": "90 gün", "90 days", "90 дней";
    Days365 = "days_365": "1 il", "1 year", "1 год";
    Grant = "grant": "Razılıq verin", "Give consent", "Дать согласие";
    Revoke = "revoke": "Geri götürün", "Withdraw consent", "Отозвать согласие";
    Granted = "granted": "Verilib", "Granted", "Дано";
    Revoked = "revoked": "Geri götürülüb", "Withdrawn", "Отозвано";
    Expired = "expired": "Müddəti bitib", "Expired", "Истекло";
    NoConsents = "no_consents": "Razılığınız yoxdur.", "You have given no consents.", "Вы не давали согласий.";
    UnknownCompany = "unknown_company": "Naməlum şirkət", "Unknown company", "Неизвестная компания";
    NotificationsTitle = "notifications_title": "Bildirişlər", "Notifications", "Уведомления";
    NoNotifications = "no_notifications": "Bildiriş yoxdur.", "No notifications.", "Уведомлений нет.";
    NStatus = "n_status": "Müraciətinizin vəziyyəti dəyişdi:", "Your application's status changed:", "Статус вашего заявления изменился:";
    NConsentGranted = "n_consent_granted": "Razılıq verdiniz:", "You gave consent to", "Вы дали согласие:";
    NConsentRevoked = "n_consent_revoked": "Razılığı geri götürdünüz:", "You withdrew consent from", "Вы отозвали согласие:";
    NotFound = "not_found": "Səhifə tapılmadı", "Page not found", "Страница не найдена";
    NotFoundLead = "not_found_lead": "Ünvanı yoxlayın və ya xidmətlər siyahısından başlayın.", "Check the address, or start from the list of services.", "Проверьте адрес или начните со списка услуг.";
    ErrorTitle = "error_title": "Xəta baş verdi", "Something went wrong", "Произошла ошибка";
    TooMany = "too_many": "Çox sayda giriş cəhdi. Bir dəqiqə gözləyin.", "Too many sign-in attempts. Wait a minute.", "Слишком много попыток входа. Подождите минуту.";
    LoginFailed = "login_failed": "Giriş alınmadı. Yenidən cəhd edin.", "Signing in did not work. Try again.", "Войти не удалось. Попробуйте снова.";
    CsrfFailed = "csrf_failed": "Forma köhnəlib. Səhifəni yeniləyib yenidən göndərin.", "The form has expired. Reload the page and send it again.", "Форма устарела. Обновите страницу и отправьте снова.";
    Footer = "footer": "Körpü — açıq mənbəli rəqəmsal hökumət platforması", "Körpü — an open-source digital-government platform", "Кёрпю — открытая платформа цифрового государства";
    Back = "back": "Geri", "Back", "Назад";
    Optional = "optional": "(istəyə bağlı)", "(optional)", "(необязательно)";
    DevIdpTitle = "dev_idp_title": "İnkişaf üçün identifikasiya provayderi — istehsal üçün deyil", "Development identity provider — not for production", "Тестовый провайдер идентификации — не для эксплуатации";
    DevIdpPin = "dev_idp_pin": "Şəxsiyyət vəsiqəsinin FİN kodu", "Personal id (FIN)", "Личный код (FIN)";
    DevIdpName = "dev_idp_name": "Ad və soyad", "Full name", "Имя и фамилия";
    DevIdpEmail = "dev_idp_email": "E-poçt", "E-mail", "Электронная почта";
    Continue = "continue": "Davam edin", "Continue", "Продолжить";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_every_language_and_keys_are_unique() {
        let mut keys = std::collections::HashSet::new();
        for m in Msg::ALL {
            assert!(keys.insert(m.key()), "duplicate key {}", m.key());
            for l in Lang::ALL {
                assert!(!l.t(*m).is_empty(), "{m:?} in {}", l.code());
            }
        }
        assert_eq!(Lang::Ru.t(Msg::Login), "Войти");
        assert_eq!(Lang::En.t(Msg::NotFound), "Page not found");
        assert_eq!(Lang::default(), Lang::Az);
    }
}
